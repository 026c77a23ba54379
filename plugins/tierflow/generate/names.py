"""Chinese personal names, organisation names and street names.

Names are a pure function of a 64-bit hash, so the same person (the same ID
number) gets the same name wherever the generator mentions them: the household
row, an enterprise's legal representative, a licence holder.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierflow.generate import text
from tierflow.generate.rng import unit, weighted_index

# Common surnames, most frequent first; weights fall off roughly like the census shares.
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
SURNAME_WEIGHTS = 1.0 / (np.arange(len(SURNAMES)) + 2.0) ** 0.9
MALE_CHARS = list(
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳建亮成兵海峰志文博睿轩晨泽洋"
)
FEMALE_CHARS = list("芳娜敏静丽艳娟霞燕玲桂丹萍红玉兰琳莉婷雪倩颖洁佳欣悦梅琴云露瑶怡思雨晴蕾璐月")
SHARED_CHARS = list("小子一嘉心诗春秀英德永国庆家金")

STREET_WORDS = list(
    "人民 解放 建设 中山 民生 新华 和平 长江 嘉陵 滨江 学府 龙湖 金开 红旗 胜利 朝阳 文化 工业 迎宾 北城 南城 "
    "东环 西环 星光 花园 桂花 黄桷 青年 健康 光明 幸福 兴隆 天星 临江 凤凰 白沙 石桥 松林 金山 银河".split()
)
PLACE_WORDS = list(
    "龙山 石桥 白市 青木 凤鸣 金竹 黄泥 双河 太平 永兴 回龙 新桥 清溪 铁山 大兴 白马 桃花 玉泉 高峰 三合 "
    "长岭 走马 盘龙 河坝 沙坝 龙门 鹿角 古路 安澜 兴隆".split()
)
TRADE_WORDS = list(
    "宏达 鑫源 恒信 华瑞 博远 天诚 金桥 巴渝 山城 嘉信 瑞丰 兴业 长鸿 永盛 锦程 汇通 德润 聚力 顺达 盛世 "
    "江渝 两江 渝鑫 宇航 和美 友邦 众诚 力帆 凯特 远景".split()
)


def person_names(hashes: np.ndarray, male: np.ndarray) -> pa.Array:
    """One name per hash: weighted surname plus one or two gendered given-name characters."""
    surname = weighted_index(unit(hashes, 0), SURNAME_WEIGHTS)
    two_chars = unit(hashes, 16) < 0.7  # most people have two given characters
    first = _given(unit(hashes, 24), male)
    second = np.where(two_chars, _given(unit(hashes, 40), male), len(_GIVEN) - 1)
    return text.join(
        text.pick(SURNAMES, surname), text.pick(_GIVEN, first), text.pick(_GIVEN, second)
    )


# male pool, then female pool, then '' (no second character): one lookup table
_MALE = MALE_CHARS + SHARED_CHARS
_FEMALE = FEMALE_CHARS + SHARED_CHARS
_GIVEN = _MALE + _FEMALE + [""]


def _given(u: np.ndarray, male: np.ndarray) -> np.ndarray:
    return np.where(
        male, (u * len(_MALE)).astype(np.int64), len(_MALE) + (u * len(_FEMALE)).astype(np.int64)
    )


def street_addresses(rng: np.random.Generator, prefix: pa.Array) -> pa.Array:
    """'<prefix><street>路<n>号' with a building/unit/room on about half of them."""
    n = len(prefix)
    street = text.pick(STREET_WORDS, rng.integers(0, len(STREET_WORDS), n))
    kind = text.pick(["路", "街", "大道", "路", "巷"], rng.integers(0, 5, n))
    number = text.integer(rng.integers(1, 999, n))
    room = text.join(
        text.integer(rng.integers(1, 30, n)),
        "栋",
        text.integer(rng.integers(1, 6, n)),
        "单元",
        text.integer(rng.integers(1, 33, n)),
        "-",
        text.zero_pad(rng.integers(1, 9, n), 2),
    )
    room = pc.if_else(pa.array(rng.random(n) < 0.5), room, "")
    return text.join(prefix, street, kind, number, "号", room)
