"""The label sets every head, file and API speaks, in one place."""

from __future__ import annotations

from triage.rules import ACCEPTED, SCOPE_CODES

CATEGORIES: tuple[str, ...] = ("咨询", "求助", "投诉", "建议", "批评", "举报", "其他")
CONSULTATION = "咨询"
"""The category answered on the call from the knowledge base."""
REAL_TOPICS: tuple[str, ...] = ("城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "商贸旅游", "卫生计生")
"""The seven first-level domains of the real messages (tipdm2020c)."""
PROJECT_TOPICS: tuple[str, ...] = ("公共事业", "公安消防")
"""Topics the project's own corpus adds: utilities, and police / household registration / fire hazards."""
TOPICS: tuple[str, ...] = REAL_TOPICS + PROJECT_TOPICS
SCOPES: tuple[str, ...] = (ACCEPTED, *SCOPE_CODES)
DEADLINE_CLASSES: tuple[str, ...] = ("emergency", "simple", "help", "standard")
DISTRICTS: tuple[str, ...] = ("芙蓉区", "天心区", "岳麓区", "开福区", "雨花区", "望城区", "长沙县", "浏阳市", "宁乡市", "高新区")
"""The 属地 labels. A former name (宁乡县, 宁乡市 since 2017) is read as its label through the unit catalogue's
aliases: `triage.units.canonical_district`."""
HEADS: tuple[str, ...] = ("category", "topic", "scope", "unit")
"""Heads a model can learn. `unit` is learned only where labelled orders name units."""

KNOWN_LABELS: dict[str, tuple[str, ...]] = {
    "category": CATEGORIES,
    "topic": TOPICS,
    "scope": SCOPES,
    "deadline": DEADLINE_CLASSES,
    "district": DISTRICTS,
}
"""Closed label sets; `unit` is checked against the catalogue instead."""
