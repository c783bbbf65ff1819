import pytest

from triage.errors import InvalidTranscriptError
from triage.normalise import MAX_CHARS, mask_pii, normalise


def test_full_width_traditional_and_whitespace_become_plain_simplified_text():
    assert normalise("ＡＢＣ１２３　我要投訴，這個小區　停水了") == "ABC123我要投诉,这个小区停水了"


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("嗯，那个，就是说，我们小区停水三天了啊。", "我们小区停水三天了。"),
        ("呃我想问一下公积金怎么提取", "我想问一下公积金怎么提取"),
        ("喂，你好，那个小区门口的路灯坏了", "那个小区门口的路灯坏了"),
    ],
)
def test_spoken_fillers_go_and_content_words_stay(spoken, expected):
    assert normalise(spoken) == expected


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        ("我电话是13873112345", "[电话]"),
        ("打我手机 138 7311 2345 就行", "[电话]"),
        ("座机0731-84112345", "[电话]"),
        ("联系电话84112345", "[电话]"),
        ("我的身份证号是43010219900101123X", "[身份证号]"),
        ("工资卡号6222021111111111111没收到钱", "[银行卡号]"),
        ("号码是幺三八七三幺幺二三四五", "[电话]"),
    ],
)
def test_personal_numbers_are_masked(text, placeholder):
    masked = normalise(text)
    assert placeholder in masked
    for digits in ("13873112345", "84112345", "43010219900101123X", "6222021111111111111"):
        assert digits not in masked


def test_licence_plates_house_numbers_and_amounts_are_kept():
    text = "湘A·12345这辆车天天停在芙蓉中路88号门口，罚款200元"
    assert normalise(text) == "湘A·12345这辆车天天停在芙蓉中路88号门口,罚款200元"
    assert mask_pii("湘AD12345") == "湘AD12345"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("hello, water is off", "no Chinese"),
        ("停" * (MAX_CHARS + 1), str(MAX_CHARS)),
        (None, "must be a string"),
        (["停水"], "must be a string"),
        ("嗯嗯，啊。", "only fillers"),
    ],
)
def test_unusable_transcripts_are_refused_with_a_reason(bad, message):
    with pytest.raises(InvalidTranscriptError, match=message):
        normalise(bad)


BARBECUE = "气死我了😡😡楼下那家烧烤店天天烤到半夜🔥🔥🔥，油烟熏得窗户都打不开👎，投诉多少次了没人管😤"


def test_emoji_and_pictographs_are_dropped_from_what_the_classifier_reads():
    """An angry call about a barbecue shop went to the fire brigade because of its 🔥."""
    clean = normalise(BARBECUE)
    assert clean == "气死我了楼下那家烧烤店天天烤到半夜,油烟熏得窗户都打不开,投诉多少次了没人管"
    assert "火" not in clean and "🔥" not in clean
    assert normalise("家里着火了🔥🔥快来人") == "家里着火了快来人"  # a real fire still says so in words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1️⃣号楼👍🏽电梯坏了", "1号楼电梯坏了"),  # keycap mark, variation selector, skin tone
        ("🇨🇳国旗被人扯坏了", "国旗被人扯坏了"),  # regional indicators
        ("小区KTV🎤party吵到半夜", "小区KTV party吵到半夜"),  # between Latin words a space stays
        ("♻️垃圾分类点★满了", "垃圾分类点满了"),
        ("室内温度40℃，空调坏了", "室内温度40°C,空调坏了"),  # the degree sign is text
        ("邮编〒410000的信没收到", "邮编〒410000的信没收到"),
    ],
)
def test_only_pictographs_go(text, expected):
    assert normalise(text) == expected


def test_a_phone_number_split_by_emoji_is_still_masked():
    assert normalise("我电话138📞7311📞2345") == "我电话[电话]"
