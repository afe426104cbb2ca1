"""Licence display (亮照亮标): find and check who runs a shop, from the pages it shows.

《电子商务法》第十五条 requires an operator to show its business licence details: the operator
name, the 18-character unified social credit code (统一社会信用代码, GB 32100-2015, last
character a checksum) and, for a self-built site, its ICP filing number. Plain library, no
Scrapy: extraction from HTML text, validation, and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import parsel

from monitor.extract.page import Page
from monitor.extract.structured import PRODUCT_TYPES, read_structured, short_type
from monitor.lexicon.normalize import fold

CATEGORY = "license_display"
LABEL = "亮照亮标"
LEGAL_BASIS = "《电子商务法》第十五条"

CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"

_LABELLED_CODE = re.compile(
    r"(?:统一社会信用代码|社会信用代码|信用代码|营业执照(?:注册)?号?|注册号|税号)\s*[:：]?\s*([0-9A-Za-z\s\-]{15,30})"
)
_BARE_CODE = re.compile(
    r"(?<![0-9A-Za-z])([0-9A-HJ-NP-RT-UW-Y]{2}\d{6}[0-9A-HJ-NP-RT-UW-Y]{10})(?![0-9A-Za-z])"
)
_ICP = re.compile(
    rf"([{PROVINCES}])\s*ICP\s*(备|证)\s*(\d{{4,12}})\s*号?(?:\s*[-－]\s*(\d{{1,3}}))?", re.I
)
_ICP_LOOSE = re.compile(r"([\u4e00-\u9fff]?)\s*ICP\s*[备证]\s*[0-9A-Za-z]+[^\s，。<]{0,6}", re.I)
_OPERATOR = re.compile(
    r"(?:经营者|主办单位|经营主体|公司名称|企业名称|运营主体|版权所有|Copyright\s*©?)\s*[:：]?\s*(?:\d{4}[-—]\d{4}\s*)?([\u4e00-\u9fff（）()]{4,40}(?:公司|厂|店|中心|工作室|合作社|商行|经营部))"
)
_PHONE = re.compile(
    r"(?:电话|联系电话|客服电话|热线|Tel|TEL)\s*[:：]?\s*((?:\+?86[-\s]?)?(?:1[3-9]\d{9}|0\d{2,3}[-\s]?\d{7,8}|400[-\s]?\d{3}[-\s]?\d{4}))"
)
_ADDRESS = re.compile(r"(?:地址|经营地址|住所|注册地址)\s*[:：]\s*([^\s，。|<]{6,60})")


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` cannot be a unified social credit code, or None when it is well formed."""
    if len(code) != 18:
        return f"长度为{len(code)}位，应为18位"
    bad = [c for c in code if c not in CODE_CHARS]
    if bad:
        return f"含非法字符 {''.join(sorted(set(bad)))}"
    total = sum(CODE_CHARS.index(c) * w for c, w in zip(code[:17], WEIGHTS, strict=True))
    check = CODE_CHARS[(31 - total % 31) % 31]
    if code[17] != check:
        return f"校验位错误（应为 {check}）"
    return None


def icp_problem(icp: str) -> str | None:
    m = _ICP.fullmatch(icp)
    if not m:
        return "不符合“省份简称+ICP备/证+编号+号”的格式"
    return None


@dataclass
class LicenseInfo:
    """What one page shows about its operator."""

    url: str
    operator: str | None = None
    credit_codes: list[str] = field(default_factory=list)
    icps: list[str] = field(default_factory=list)
    phone: str | None = None
    address: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.operator or self.credit_codes or self.icps)


_ORG_FIELDS = {
    "legalName": "经营者",
    "name": "经营者",
    "taxID": "统一社会信用代码",
    "vatID": "统一社会信用代码",
    "identifier": "统一社会信用代码",
    "leiCode": "统一社会信用代码",
    "telephone": "电话",
}


def _page_text(page: Page) -> str:
    """The page's visible text (header and footer included: licences live there) and what its
    JSON-LD declares about its operator, labelled the way a page would write it."""
    parts = [page.full_text]
    for node in read_structured(page).jsonld:
        if set(short_type(node.get("@type"))) & PRODUCT_TYPES:
            continue  # a product's name is not its operator
        for key, label in _ORG_FIELDS.items():
            value = node.get(key)
            if isinstance(value, str):
                parts.append(f" {label}：{value} ")
        address = node.get("address")
        if isinstance(address, str):
            parts.append(f" 地址：{address} ")
    return " ".join(parts)


def extract_license(page: str | parsel.Selector | Page, url: str = "") -> LicenseInfo:
    """Operator name, credit codes, ICP numbers, phone and address shown on a page (HTML text, a
    selector, or the :class:`Page` the listing was read from: one parse serves both).

    Full-width characters and spaces inside a code are folded first (９１３３ ０１… reads as 9133 01…).
    """
    info = LicenseInfo(url)
    parsed = Page.of(page, url)
    if parsed is None:
        return info
    try:
        # whitespace folded first: a run of 100,000 spaces (or the gaps left where deep markup
        # was flattened) would make each ``\s*`` below backtrack over it from every position
        text_cn = " ".join(fold(_page_text(parsed)).split())
    except RecursionError:  # hostile markup: nothing readable, nothing raised
        return info
    text = text_cn.upper()
    for m in _LABELLED_CODE.finditer(text):
        code = re.sub(r"[\s\-]", "", m.group(1))[:18]
        if len(code) >= 15 and code not in info.credit_codes:
            info.credit_codes.append(code)
    for m in _BARE_CODE.finditer(re.sub(r"(?<=[0-9A-Z]) (?=[0-9A-Z])", "", text)):
        if m.group(1) not in info.credit_codes and credit_code_problem(m.group(1)) is None:
            info.credit_codes.append(m.group(1))
    for m in _ICP.finditer(text_cn):
        icp = f"{m.group(1)}ICP{m.group(2)}{m.group(3)}号" + (
            f"-{m.group(4)}" if m.group(4) else ""
        )
        if icp not in info.icps:
            info.icps.append(icp)
    if not info.icps:
        for m in _ICP_LOOSE.finditer(text_cn):
            info.icps.append(re.sub(r"\s", "", m.group(0)))
    op = _OPERATOR.search(text_cn)
    info.operator = op.group(1) if op else None
    phone = _PHONE.search(text_cn)
    info.phone = phone.group(1) if phone else None
    address = _ADDRESS.search(text_cn)
    info.address = address.group(1) if address else None
    return info


@dataclass
class Verdict:
    """What a whole crawl of a target showed, and what is wrong with it."""

    operator: str | None
    credit_code: str | None
    icp: str | None
    problems: list[tuple[str, str | None]]  # (problem, url of the page it was judged on)

    @property
    def status(self) -> str:
        if not self.problems:
            return "ok"
        return "missing" if self.problems[0][0].startswith("未") else "invalid"


def judge(pages: list[LicenseInfo], registered_code: str | None, start_url: str) -> Verdict:
    """Decide on a target from every page of a full crawl."""
    operator = next((p.operator for p in pages if p.operator), None)
    codes = [(c, p.url) for p in pages for c in p.credit_codes]
    icps = [(i, p.url) for p in pages for i in p.icps]
    problems: list[tuple[str, str | None]] = []
    if not codes and not icps and not operator:
        problems.append(
            ("未公示营业执照信息（经营者名称、统一社会信用代码、ICP备案号均未找到）", start_url)
        )
    seen = set()
    for code, url in codes:
        if code in seen:
            continue
        seen.add(code)
        why = credit_code_problem(code)
        if why:
            problems.append((f"统一社会信用代码 {code} 无效：{why}", url))
        elif registered_code and code != registered_code.upper():
            problems.append(
                (f"公示的统一社会信用代码 {code} 与登记的 {registered_code} 不一致", url)
            )
    for icp, url in icps:
        why = icp_problem(icp)
        if why:
            problems.append((f"ICP备案号 {icp} {why}", url))
    return Verdict(operator, codes[0][0] if codes else None, icps[0][0] if icps else None, problems)
