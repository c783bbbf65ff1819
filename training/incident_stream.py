"""A synthetic stream of hotline calls with known incidents, to measure how well orders are linked.

Incidents are problems at one place (street lights out on a road, a burst water main at an estate,
night-time construction noise near a landmark) that several callers report in their own words over a
day or three. Between them run one-off calls: the same kinds of problem at other places (often in the
same district and at the same time, so that only the place tells them apart), other problems at an
incident's very place, other complaints, and consultations that name no place at all.

Places come from the project's gazetteer (data/places.yaml); texts go through `normalise` and the
gazetteer's `locate`, as a real order's would. Everything is drawn from one `random.Random(seed)`, so a
seed gives the same stream on every machine. Nothing is written to disk.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from triage.incidents import OrderSignal
from triage.normalise import normalise
from triage.places import Gazetteer, default_gazetteer

CST = timezone(timedelta(hours=8))
START = datetime(2026, 3, 2, 0, 0, tzinfo=CST)
SEPARATION = timedelta(hours=96)
"""Two truths with the same problem and place are kept this far apart, beyond any linking window."""


@dataclass(frozen=True)
class Problem:
    key: str
    topic: str
    kinds: tuple[str, ...]
    """Place kinds it happens at: road, estate, landmark."""
    phrases: tuple[str, ...]


PROBLEMS: tuple[Problem, ...] = (
    Problem("streetlight", "城乡建设", ("road",), (
        "路灯不亮了", "路灯全部坏了", "一整排路灯都不亮", "路灯坏了好多盏", "晚上路灯一盏都没亮",
        "晚上黑漆漆的什么都看不见", "走夜路很危险", "老人小孩晚上不敢出门", "前两天还有人在那里摔倒了",
        "电动车晚上经过差点撞到人", "路灯一直不亮也没人来修",
    )),
    Problem("water_main", "公共事业", ("estate", "road"), (
        "自来水管爆了", "供水管道破裂了", "水管爆裂了", "地下水管破了", "有根大水管爆了",
        "水一直往外冒", "地上全是水", "水哗哗地流浪费得很", "路面都被冲坏了", "水冒得有半人高",
        "楼上楼下都没水压了",
    )),
    Problem("construction_noise", "环境保护", ("road", "landmark", "estate"), (
        "工地晚上施工噪音太大了", "半夜还在打桩", "建筑工地夜间施工扰民", "工地机器轰隆隆响到凌晨",
        "施工噪音吵得小孩没法睡觉", "工地每天晚上十二点还在施工", "渣土车进进出出", "吵得整晚睡不着",
        "白天上班晚上还要被吵", "问了工地说有夜间施工许可",
    )),
    Problem("manhole", "城乡建设", ("road",), (
        "井盖不见了", "有个窨井盖缺失", "井盖破了一个大洞", "下水道井盖被人偷了", "井盖松动了",
        "差点有人掉下去", "黑洞洞的很危险", "车子压上去哐当响", "旁边只放了个破桶挡着", "小孩子放学都从那里过",
    )),
    Problem("garbage", "环境保护", ("estate", "road"), (
        "垃圾堆成山了没人清运", "垃圾站好几天没人收", "生活垃圾没人清理", "垃圾桶满了都溢出来了",
        "垃圾好多天没人拖走", "臭得不得了", "苍蝇蚊子到处飞", "夏天味道很大窗户都不敢开", "野猫野狗翻得到处都是",
    )),
    Problem("water_outage", "公共事业", ("estate",), (
        "突然停水了", "家里没有水了一滴都没有", "停水一整天了", "自来水停了", "没有任何通知就停水了",
        "做饭洗澡都没水", "到底什么时候来水", "物业说是自来水公司的问题", "老人在家没水喝", "整个小区都没水",
    )),
    Problem("power_outage", "公共事业", ("estate",), (
        "整栋楼停电了", "突然停电了", "停电好几个小时了", "又停电了", "大面积停电到现在还没来电",
        "电梯都停了", "冰箱里的东西都坏了", "也没看到停电通知", "家里有老人热得受不了", "物业说在等供电公司",
    )),
    Problem("flooding", "城乡建设", ("road",), (
        "下雨以后路面积水很深", "马路上积水没过膝盖", "一下雨就淹", "路上积水好深", "积水排不出去",
        "车子开过去都熄火了", "行人根本没法走", "公交车都过不去", "排水口好像被堵住了", "每次下大雨都这样",
    )),
    Problem("traffic_light", "交通运输", ("road",), (
        "红绿灯坏了", "信号灯不亮", "交通信号灯一直闪黄灯", "红绿灯故障", "红绿灯黑屏了",
        "路口乱成一团", "车子乱开差点撞车", "也没有交警指挥", "上下班高峰堵得走不动", "行人过马路很危险",
    )),
    Problem("cooking_fumes", "环境保护", ("estate", "road"), (
        "烧烤店油烟直接排到楼上", "饭店油烟太大", "餐馆的油烟熏得人受不了", "夜宵摊油烟呛人",
        "楼下餐饮店油烟没有净化直接排", "窗户都不敢开", "衣服晒在外面都是油烟味", "一直搞到半夜",
        "家里老人咳嗽得厉害",
    )),
    Problem("street_vendors", "城乡建设", ("road", "landmark"), (
        "好多摊贩占道经营", "流动摊贩把人行道占满了", "小商贩摆摊占道", "占道经营很严重", "路都堵死了",
        "车都过不去", "行人只能走马路", "地上到处是垃圾和污水", "城管来了就跑走了就回来",
    )),
    Problem("fallen_tree", "城乡建设", ("road",), (
        "大树倒了横在路中间", "一棵树被风刮倒了", "行道树倒下来了", "有棵树断了倒在人行道上",
        "压到了停在路边的车", "挡住了路过不去", "树枝把电线都压住了", "昨晚风太大刮倒的",
    )),
    Problem("sewage", "城乡建设", ("road", "estate"), (
        "下水道堵了", "污水井冒水", "化粪池满了往外溢", "下水道反水", "污水漫到路上",
        "臭气熏天", "到处是污水走路都要踮脚", "一楼的住户家里都进了污水",
    )),
    Problem("square_dance", "环境保护", ("landmark", "estate"), (
        "广场舞音响开得太大声", "跳广场舞的音乐吵到晚上十点", "广场舞噪音扰民", "跳舞的音箱声音太大",
        "天天晚上放", "老人睡不着", "小孩子写作业都没法写", "跟她们说了也不听",
    )),
)

ONE_OFF: tuple[Problem, ...] = (
    Problem("stray_dogs", "环境保护", ("road", "estate", "landmark"), ("好多流浪狗，晚上追着人叫", "流浪狗咬了人")),
    Problem("illegal_parking", "交通运输", ("road", "landmark"), ("车子乱停乱放，消防通道都堵了", "有辆车占了盲道停了好几天")),
    Problem("taxi_refusal", "交通运输", ("landmark",), ("出租车拒载，还乱要价", "网约车司机绕路多收钱")),
    Problem("expired_food", "商贸旅游", ("road", "landmark"), ("有家超市卖过期食品", "小卖部卖的饮料过期了")),
    Problem("property_fees", "城乡建设", ("estate",), ("物业乱收停车费", "物业不作为，楼道灯坏了也不修")),
    Problem("bike_clutter", "交通运输", ("road", "landmark"), ("共享单车堆满了人行道", "共享单车乱停，路都走不通")),
    Problem("wage_arrears", "劳动和社会保障", ("landmark", "road"), ("老板拖欠工资三个月了", "公司不给我们发工资")),
    Problem("bus_service", "交通运输", ("road", "landmark"), ("公交车太少了，等了一个小时", "公交司机开车太猛，老人摔倒了")),
)

CONSULTATIONS: tuple[str, ...] = (
    "我想问一下住房公积金怎么提取", "请问社保卡丢了怎么补办", "居住证怎么办理，需要什么材料",
    "小孩上小学报名要准备哪些资料", "医保异地报销怎么弄", "我想咨询一下新生儿怎么落户",
    "学生公交卡怎么办理", "营业执照可以在网上申请吗", "退休金每个月几号发", "灵活就业人员社保怎么交",
    "公租房怎么申请，有什么条件", "身份证过期了去哪里换", "驾驶证到期换证要带什么",
    "失业金怎么领取", "个体户怎么注销", "孩子的医保在哪里缴费", "买房可以用公积金贷款吗，额度多少",
    "户口迁移需要什么手续", "老年人免费乘车卡怎么办", "残疾证怎么申请", "生育津贴怎么领",
    "网上怎么查社保缴费记录", "结婚登记要预约吗", "外地车牌限行吗", "电费怎么在网上交",
)

OPENERS = ("喂你好，", "你好，", "喂，你好，嗯，", "你好，我要反映一个问题，", "你好我要投诉，", "", "喂，那个，",
           "你好，我想反映一下，", "喂，嗯，就是，", "你好，我举报一下，", "喂你好，我是附近的居民，", "你好，麻烦问一下，")
DURATIONS = ("", "", "", "已经三天了，", "好几天了，", "从昨天晚上开始的，", "一个星期了，", "今天早上发现的，",
             "刚刚发生的，", "这两天一直这样，")
CLOSERS = ("麻烦你们尽快派人处理一下。", "希望有关部门管一管。", "已经打过好几次电话了。", "谢谢。", "", "", "",
           "你们快点派人来看看。", "我电话13873112345，处理了回个电话。", "能不能管一下。", "请尽快解决。",
           "不处理我就一直打。", "麻烦了。")
PLACE_FORMS = {
    "road": ("{p}", "{p}上", "{p}那边", "{p}路口", "{p}这一段", "{d}{p}", "{d}的{p}"),
    "estate": ("{p}小区", "{p}小区里面", "{p}那边", "{d}的{p}小区", "{p}"),
    "landmark": ("{p}附近", "{p}旁边", "{p}那边", "{p}门口", "{d}{p}那里"),
}


BUSY = Problem("incident", "", (), ())
"""Claimed for every incident's place: two incidents never share a place at the same time (a thin gazetteer
would otherwise pile them on the one road it knows in a county); one-off calls still may."""


@dataclass(frozen=True)
class Spot:
    name: str
    kind: str
    district: str


@dataclass(frozen=True)
class StreamCall:
    """An order of the stream and the truth it was generated from."""

    order: OrderSignal
    truth: str
    """Incident key (`I03`) shared by the calls of one incident; singletons carry their own order id."""
    problem: str
    spot: str | None


def spots(gazetteer: Gazetteer) -> dict[str, dict[str, list[Spot]]]:
    """Specific places by district and kind; names of three or more characters, in gazetteer order."""
    out: dict[str, dict[str, list[Spot]]] = {}
    for name in gazetteer.names():
        match = next((m for m in gazetteer.find(name) if m.start == 0 and m.end == len(name)), None)
        if match is None or match.place.kind not in PLACE_FORMS or len(name) < 3 or len(match.place.districts) != 1:
            continue
        out.setdefault(match.place.districts[0], {}).setdefault(match.place.kind, []).append(
            Spot(name, match.place.kind, match.place.districts[0])
        )
    return out


class _Generator:
    def __init__(self, seed: int, gazetteer: Gazetteer) -> None:
        self.rng = random.Random(seed)
        self.gazetteer = gazetteer
        self.spots = spots(gazetteer)
        self.districts = sorted(self.spots)
        self.taken: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
        self.calls: list[tuple[str, datetime, str, Problem, Spot | None]] = []

    def spot(self, problem: Problem, district: str | None = None, exclude: str | None = None) -> Spot | None:
        for _ in range(50):
            d = district or self.rng.choice(self.districts)
            kinds = [k for k in problem.kinds if self.spots[d].get(k)]
            if not kinds:
                if district is not None:
                    return None
                continue
            choice = self.rng.choice(self.spots[d][self.rng.choice(kinds)])
            if choice.name != exclude:
                return choice
        return None

    def free(self, problem: Problem, spot: Spot, t0: datetime, t1: datetime) -> bool:
        """No other truth has this problem at this place anywhere near this time."""
        return all(t1 + SEPARATION < a or b + SEPARATION < t0 for a, b in self.taken.get((problem.key, spot.name), []))

    def claim(self, problem: Problem, spot: Spot, t0: datetime, t1: datetime) -> None:
        self.taken.setdefault((problem.key, spot.name), []).append((t0, t1))

    def place_phrase(self, spot: Spot) -> str:
        district = spot.district if self.rng.random() < 0.7 else spot.district.rstrip("区县市")
        return self.rng.choice(PLACE_FORMS[spot.kind]).format(p=spot.name, d=district)

    def text(self, problem: Problem, spot: Spot, secondary: Spot | None = None, only_secondary: bool = False) -> str:
        """One caller's words: opener, maybe where they live, the place and the problem in some order."""
        rng = self.rng
        phrase = "，".join(rng.sample(problem.phrases, min(len(problem.phrases), rng.choice((1, 2, 2, 3)))))
        if only_secondary and secondary is not None:
            where = self.place_phrase(secondary)
        elif secondary is not None and rng.random() < 0.25:
            where = f"{secondary.name}旁边的{self.place_phrase(spot)}"
        else:
            where = self.place_phrase(spot)
        residence = ""
        if rng.random() < 0.12:
            home = self.spot(Problem("home", "", ("estate", "landmark"), ()))
            if home is not None and home.name != spot.name:
                residence = f"我住在{home.name}，"
        duration = rng.choice(DURATIONS)
        layout = rng.random()
        if layout < 0.5:
            body = f"{where}{phrase}，{duration}"
        elif layout < 0.8:
            body = f"我要反映{where}的问题，{phrase}，{duration}"
        else:
            body = f"{phrase}，就在{where}，{duration}"
        return f"{rng.choice(OPENERS)}{residence}{body}{rng.choice(CLOSERS)}"

    def emit(self, truth: str, t: datetime, text: str, problem: Problem, spot: Spot | None) -> None:
        self.calls.append((truth, t, text, problem, spot))


def generate_stream(
    seed: int = 0,
    *,
    incidents: int = 40,
    singletons: int = 520,
    days: int = 10,
    min_calls: int = 3,
    max_calls: int = 25,
    gazetteer: Gazetteer | None = None,
) -> list[StreamCall]:
    """The stream, oldest call first: `incidents` incidents of 3-25 calls and `singletons` one-off calls.

    Of the singletons, about 35% repeat an open incident's problem at another place in its district (or
    another district), 10% report another problem at an incident's place, 20% are consultations with no
    place (some saying their district), and the rest are problems of any kind anywhere.
    """
    gen = _Generator(seed, gazetteer or default_gazetteer())
    rng = gen.rng
    span_all = timedelta(days=days)
    opened: list[tuple[Problem, Spot, datetime, datetime]] = []
    number = 0
    while number < incidents:
        problem = rng.choice(PROBLEMS)
        spot = gen.spot(problem)
        if spot is None:
            continue
        n = rng.randint(min_calls, max_calls)
        start = START + timedelta(seconds=rng.uniform(0, (span_all - timedelta(days=1)).total_seconds()))
        duration = timedelta(hours=rng.uniform(4, 60))
        end = start + duration
        if not gen.free(problem, spot, start, end) or not gen.free(BUSY, spot, start, end):
            continue
        gen.claim(problem, spot, start, end)
        gen.claim(BUSY, spot, start, end)
        number += 1
        truth = f"I{number:02d}"
        secondary = next((s for _ in range(10) if (s := gen.spot(Problem("near", "", ("landmark",), ()), spot.district, spot.name))), None)
        offsets = sorted([0.0] + [rng.uniform(0, duration.total_seconds()) for _ in range(n - 1)])
        for offset in offsets:
            only_secondary = secondary is not None and rng.random() < 0.03
            text = gen.text(problem, spot, secondary, only_secondary)
            gen.emit(truth, start + timedelta(seconds=offset), text, problem, spot)
        opened.append((problem, spot, start, end))

    made = 0
    while made < singletons:
        roll = rng.random()
        t = START + timedelta(seconds=rng.uniform(0, span_all.total_seconds()))
        if roll < 0.20:
            question = rng.choice(CONSULTATIONS)
            prefix = f"我是{rng.choice(gen.districts)}的，" if rng.random() < 0.3 else ""
            text = f"{rng.choice(OPENERS)}{prefix}{question}。{rng.choice(('', '谢谢。', '麻烦告诉我一下。'))}"
            gen.emit("", t, text, Problem("consultation", "劳动和社会保障", (), ()), None)
            made += 1
            continue
        if roll < 0.55 and opened:  # the same problem at another place, while the incident is open
            problem, near, start, end = rng.choice(opened)
            t = start + timedelta(seconds=rng.uniform(-6 * 3600, (end - start).total_seconds() + 6 * 3600))
            spot = gen.spot(problem, near.district if rng.random() < 0.7 else None, exclude=near.name)
        elif roll < 0.65 and opened:  # another problem at an incident's place
            _, spot, start, end = rng.choice(opened)
            t = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))
            problem = rng.choice([p for p in PROBLEMS + ONE_OFF if spot.kind in p.kinds])
        else:
            problem = rng.choice(PROBLEMS + ONE_OFF)
            spot = gen.spot(problem)
        if spot is None or not gen.free(problem, spot, t, t):
            continue
        gen.claim(problem, spot, t, t)
        gen.emit("", t, gen.text(problem, spot), problem, spot)
        made += 1

    gen.calls.sort(key=lambda c: c[1])
    stream: list[StreamCall] = []
    for index, (truth, t, raw, problem, spot) in enumerate(gen.calls):
        order_id = f"s{seed}-{index:05d}"
        text = normalise(raw)
        location = gen.gazetteer.locate(text)
        order = OrderSignal(order_id, text, t, location.district, location.places, problem.topic)
        stream.append(StreamCall(order, truth or order_id, problem.key, spot.name if spot else None))
    return stream
