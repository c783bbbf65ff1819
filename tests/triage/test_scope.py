import pytest

from triage.errors import DataFileError
from triage.normalise import normalise
from triage.resources import RULES_FILE
from triage.rules import SCOPE_CODES, default_rules, load_rules
from triage.scope import ScopeDecider


@pytest.fixture(scope="module")
def decider() -> ScopeDecider:
    return ScopeDecider(default_rules())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("我跟邻居因为空调滴水的事吵起来了,你们来评评理", "resident_dispute"),
        ("我想反映一下旁边部队营区晚上训练太吵", "military"),
        ("我要举报我们镇上的干部贪污扶贫款", "party_discipline"),
        ("我这个案子法院已经立案了,什么时候开庭你们能不能催一下", "litigation"),
        ("你帮我查一下我前妻现在住在哪,给我她的住址", "secret_privacy"),
        ("能不能帮我办个假证,毕业证丢了", "illegal_immoral"),
        ("这个事我已经在市长信箱反映过了,也答复了,我再说一遍", "already_handled"),
        ("你们管不管", "not_specific"),
    ],
)
def test_each_out_of_scope_reason_is_refused_with_words_for_the_caller(decider, text, reason):
    decision = decider.decide(normalise(text))
    assert not decision.accepted
    assert decision.reason == reason
    assert decision.explanation
    assert decision.redirect


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("楼道里好大的煤气味,我怕要爆炸", "119"),
        ("对面楼着火了,好多烟", "119"),
        ("我爸突然晕倒了,叫不醒", "120"),
        ("刚刚路口两台车撞了,有人受伤流血", "122"),
        ("楼下有人拿刀在砍人", "110"),
    ],
)
def test_emergencies_redirect_to_the_right_number(decider, text, number):
    decision = decider.decide(normalise(text), {"accepted": 0.99})
    assert (decision.accepted, decision.reason, decision.redirect) == (False, "emergency", number)
    assert number in decision.explanation


@pytest.mark.parametrize(
    "text",
    [
        "楼下烧烤店的油烟每天都熏到我家,能不能管一下",
        "去年出了交通事故,现在想问一下赔偿标准是什么",
        "我想问一下劳动仲裁要怎么申请",
        "这个月燃气费怎么比上个月多了一倍",
        "上个月我被人把我的包抢了,当时就报了警,想问一下案子有进展没有",
        "我们小区消防通道被堵了,万一着火了消防车根本进不来",
        "我前两天家里老人晕倒叫了120,现在人没事了,想问一下救护车怎么收费",
        "我是退伍军人,想问一下优待证在哪里办",
        "我以前在部队当过兵,现在厂子倒了,有没有什么补助",
        "西地省这个救命药什么时候能纳入医保",
        "欠我的36万元对我这个小老百姓来说是救命保命钱,钱未回,我每天都忧心忡忡",  # letters' figures of speech
        "业委会的决定一拖再拖,成了物业赖着不走的救命稻草,请领导督促街道尽快处理",
        "民办幼儿园老师收入低,让本来就喘不过气的教师更是雪上加霜,希望提高待遇",
        "工地每天晚上十一二点还在打桩,吵得睡不着",
        "我老婆下个月就要生了,想问一下生育保险怎么报销",
        "渣土车把泥巴撒了一路,车子开过去都打滑,能不能派人来冲一下",
        "昨天晚上电梯又把人关在里面了,物业一个多小时才来,这个电梯到底有冇人年检",
        "上个礼拜一台货车在我们村口翻了,护栏到现在还是坏的",
        "我老伴晚上睡不着,现在要吃安眠药,这个药医保能不能报",
        "前天接到个电话要我把钱转到安全账户,我冇转,想举报这个号码",
        "我们小区电梯坏了三天了,还好冇人关在里面,就是老人上下楼太难",
        "今天下午货梯又坏了,我们几个人被困在里面半个多小时,后来自己掰开门出来了,物业要整改",
        "村里有个烧砖的窑晚上偷偷开工,烟很大,烧的是废轮胎",
        "小区门口晚上有人摆摊卖烧烤,油烟好大",
        "工厂排的废气刺鼻难闻,闻久了喉咙不舒服,头晕想吐",
        "这个路口一直不装红绿灯,难道真要等到闹出人命了才管",
        "河面上好多垃圾和死鱼,好久冇人打捞了,能不能派个船来捞一下",
        "我儿子上个月在商场走丢了,是保安帮忙找到的,想表扬一下",
        "下大雨,屋后山上一棵树倒了,压在电线上,电线杆也歪了",
        "司机说服务监督卡在抽屉里,我看了是别人的照片,怀疑是套牌车",
        "今天早上地铁上有个人晕倒了,工作人员半天才来,应急太慢了",
        "停车场有台车的窗户冇关,司机在车里睡着了,车子挡住出口了",
        "上个月我娘在屋里晕倒 打了120 车子一个钟头才到 人现在还在住院 我要问一下为么子这么慢",
        "晚上总有人在江边那条路上飙车,吵得睡不着,希望交警加强巡查",
        "我想问一下狗狗掉到井里了这种事是找物业还是找城管,井盖一直冇盖",
    ],
)
def test_calls_that_only_sound_like_refusals_are_accepted(decider, text):
    decision = decider.decide(normalise(text))
    assert decision.accepted, decision.evidence


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("刚刚有人在我家门口撬锁,他还在撬,去年也被偷过一次", "110"),  # a word of now wins over the past
        ("公交车上有个婆婆突然倒下去了,嘴巴里在吐白沫", "120"),
        ("我在岳麓大道被后面一台车撞了,两台车都停在最里面的车道上,他要我负全责", "122"),
        ("餐馆的液化气罐好像漏气了,嘶嘶的响,味道好大", "119"),
        ("快点 我们单位电梯停在半中间 有两个人关在里面快一个钟头了 还冇人来", "119"),
        ("地下车库进水了 有台车泡在水里 里面还有人 车门打不开", "119"),
        ("厨房里钻进来一条蛇 盘在灶台上 我跟孩子不敢动", "119"),
        ("有个老人家坐在阳台外面的空调架子上 八楼 喊都喊不进来", "119"),
        ("她吃了一大把安眠药 现在叫不太醒", "120"),
        ("我同事胸口好痛 满头冷汗 坐都坐不住", "120"),
        ("前面那台车开得歪歪扭扭的 刚才差点撞到人 往桐梓坡路开过去了", "122"),
        ("我妈现在正在银行转账给骗子 我们劝不住", "110"),
        ("阳台上晾的被子着了 火越来越大 我们在七楼", "119"),
        ("一台小车滑到鱼塘里面去了 在往下沉 里面好像有人", "119"),
        ("水已经到胸口了 我们一家人在楼顶上下不来", "119"),
        ("我伢子刚刚还在超市门口 一下就不见了 三岁 穿红衣服", "110"),
        ("广场上两伙人在打群架 有人拿着砖头", "110"),
        ("我奶奶吃着饭嘴巴突然歪了 讲话讲不清了", "120"),
        ("有个人从楼梯上滚下来了 一动不动 头上在流血", "120"),
        ("一台面包车撞到人行道上了 撞了两个人", "122"),
        ("楼道里的电动车着了 满屋的黑烟 我们下不去", "119"),
        ("工地的挡土墙塌了 压住了一个工人", "119"),
        ("江里有个人 抱着一块木头在往下漂", "119"),
        ("我被关在一个屋里 他们收了我的手机 不让我走", "110"),
        ("有个人在楼下剪电动车的锁 还冇走", "110"),
        ("我崽崽烧到四十度 刚才在抽 眼睛都翻白了", "120"),
        ("我爸吃了山上采的蘑菇 一直吐 人都糊涂了", "120"),
        ("前面一台车冇刹住 怼上去了 两台车都停在快车道上", "122"),
        ("我孙子的手卡在滚梯的缝里面了 抽不出来 一直在哭", "119"),
        ("绕城高速出口一台罐车翻了 横在路上", "122"),
        ("我媳妇羊水破了 肚子好痛 我们在乡下", "120"),
        ("我爸刚才吃饭的时候突然大口吐血", "120"),
        # round 4
        ("那个工棚倒下来了 压了两个工人在下面 我们扒不开", "119"),
        ("我屋里的猫跌到下水道的井里了 好深 弄不上来 一直在叫", "119"),
        ("电梯停在十二楼跟十三楼中间 我跟我女儿困在里面 按铃冇人应", "119"),
        ("一台货车冲进了路边那个水果店 门面都撞垮了", "122"),
        ("两台车撞到一起了 有个司机额头上是血 坐在路边", "122"),
        ("高架桥上面四台车连环撞了 都堵在那里", "122"),
        ("现在有人在那条新修的路上飙车 好几台 开得好吓人", "122"),
        ("一个妹子被两个男的拽上了一台黑色的车 她在喊救人", "110"),
        ("对方讲要把钱转到安全账户 我现在就在银行柜台这里 他还在电话里", "110"),
        ("我爹爹一身冷汗 人迷迷糊糊的 喊他也只嗯一声", "120"),
        ("我妈在卫生间摔了一跤 爬不起来 讲大腿好痛", "120"),
        ("我崽哮喘发作了 喷雾冇带 喘不赢气", "120"),
        ("我们车间一个师傅的手被机器压了 血一直流", "120"),  # a workshop (车间) is no vehicle
        ("高速上两台车追尾了 我们人都下来了 站在护栏外面等", "122"),  # a highway's guardrail, not a ledge
    ],
)
def test_emergencies_in_call_speech_are_refused_by_rule_with_their_number(decider, text, number):
    decision = decider.decide(normalise(text), {"accepted": 0.99})
    assert (decision.accepted, decision.reason, decision.redirect, decision.by_rule) == (False, "emergency", number, True)


def test_an_accepted_call_the_model_thinks_might_be_an_emergency_says_so_with_its_number(decider):
    text = normalise("我爸爸说胸口不舒服，有点闷，我们在家里")
    possible = decider.decide(text, {"accepted": 0.84, "emergency": 0.14, "not_specific": 0.02})
    assert possible.accepted and possible.possible_emergency == "120"
    plain = decider.decide(text, {"accepted": 0.97, "emergency": 0.02, "not_specific": 0.01})
    assert plain.accepted and plain.possible_emergency is None
    assert decider.decide(text).possible_emergency is None  # no scope model, no guess


def test_the_scope_model_s_emergency_gets_the_number_for_what_is_happening(decider):
    text = normalise("骑电动车的那个人被货车挂倒了,躺在路中间")
    decision = decider.decide(text, {"accepted": 0.05, "emergency": 0.95})
    assert (decision.reason, decision.redirect, decision.by_rule) == ("emergency", "122", False)
    assert decider.emergency_number(normalise("我们这里有个人一直叫不醒")) == "120"
    assert decider.emergency_number(normalise("不知道怎么回事")) == "110"  # nothing to go on: the police


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("地铁车厢里有个男的一直用手碰我,我换了位置他还跟过来", "110"),  # a passenger touching a passenger
        ("公交车上有人故意蹭我,现在还站在我后面", "110"),
        ("渣土车刚刚把一个骑电动车的碰倒了,人躺在地上", "122"),
        ("我被一台小车碰了一下,腿上在流血", "122"),
    ],
)
def test_the_number_follows_who_does_it_not_where_it_happens(decider, text, number):
    assert decider.emergency_number(normalise(text)) == number


def test_a_long_letter_telling_an_old_emergency_is_not_refused_by_a_rule(decider):
    letter = "尊敬的领导:" + "我们小区的物业管理一直很混乱,业主意见很大," * 15 + "有一次电梯突然停了,有人被困电梯一个多小时,物业也不来人。请求有关部门督促整改。"
    assert len(letter) > default_rules().timing.story_chars
    assert decider.rule_hit(normalise(letter)) is None
    assert decider.rule_hit(normalise("救命,我们被困电梯了,电梯里面有烟")) is not None


def test_a_confident_scope_model_refuses_only_above_its_threshold(decider):
    text = normalise("我们单位的事情想反映一下情况")
    assert decider.decide(text, {"accepted": 0.3, "litigation": 0.45, "not_specific": 0.25}).accepted
    refused = decider.decide(text, {"accepted": 0.1, "litigation": 0.9})
    assert (refused.accepted, refused.reason, refused.by_rule) == (False, "litigation", False)


def test_rules_file_lists_every_reason_and_refuses_a_bad_pattern(tmp_path):
    assert {r.code for r in default_rules().scope.reasons} == set(SCOPE_CODES)
    source = RULES_FILE.read_text(encoding="utf-8")
    broken = tmp_path / "rules.yaml"
    broken.write_text(source.replace("- (晕倒|昏倒", "- ((晕倒|昏倒", 1), encoding="utf-8")
    with pytest.raises(DataFileError, match="does not compile"):
        load_rules(broken)


def test_the_words_read_to_a_caller_have_no_stray_spaces_from_yaml_folding():
    for reason in default_rules().scope.reasons:
        text = reason.explanation
        assert "， " not in text and "。 " not in text and "、 " not in text, (reason.code, text)
    assert "申请调解，也可" in default_rules().reason("resident_dispute").explanation


@pytest.mark.parametrize(
    ("text", "urgent"),
    [
        ("山坡下了几天雨，今天开始往下滑泥巴了，已经冲到屋后面了", True),
        ("小区门口配电箱的门被人撬开了，里面的线都露在外面，小孩子放学都从那里过", True),
        ("电梯刚才突然往下掉了一层，里面有两个老人", True),
        ("我们家是土砖房，想问一下农村危房改造补助要什么条件", False),  # a policy question
    ],
)
def test_accepted_urgent_matters_get_24_hours(text, urgent):
    from triage.deadlines import DeadlinePolicy, default_calendar

    rules = default_rules()
    policy = DeadlinePolicy(rules.deadlines, rules.urgent.patterns, default_calendar(), timing=rules.timing)
    assert (policy.classify(normalise(text), "求助") == "emergency") is urgent
