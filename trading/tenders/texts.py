"""Names of the tender's coded values, in Chinese and English, for pages and PDFs."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "status.draft": ("草稿", "Draft"),
    "procedure.open": ("公开招标", "Open tendering"),
    "procedure.invited": ("邀请招标", "Invited tendering"),
    "procedure.gp_open": ("政府采购公开招标", "Government procurement, open"),
    "procedure.gp_invited": ("政府采购邀请招标", "Government procurement, invited"),
    "procedure.gp_competitive_negotiation": ("竞争性谈判", "Competitive negotiation"),
    "procedure.gp_competitive_consultation": ("竞争性磋商", "Competitive consultation"),
    "procedure.gp_single_source": ("单一来源采购", "Single source"),
    "procedure.gp_inquiry": ("询价", "Request for quotations"),
    "sector.construction": ("工程", "Works"),
    "sector.goods": ("货物", "Goods"),
    "sector.services": ("服务", "Services"),
    "security.deposit": ("保证金", "Cash deposit"),
    "security.bank_guarantee": ("银行保函", "Bank guarantee"),
    "security.guarantee_insurance": ("投标保证保险", "Guarantee insurance"),
    "security.e_guarantee": ("电子保函", "E-guarantee"),
    "method.comprehensive": ("综合评估法", "Comprehensive scoring"),
    "method.lowest_price": ("经评审的最低投标价法", "Lowest evaluated price"),
    "failure.withdrawn": ("视为投标人撤回投标", "The bid counts as withdrawn"),
    "failure.officers": ("由开标人以密钥分片解密", "Opened with the officers' key shares"),
    "weight.price": ("价格", "Price"),
    "weight.technical": ("技术", "Technical"),
    "weight.commercial": ("商务", "Commercial"),
    "notice.tender": ("招标公告", "Tender notice"),
    "notice.clarification": ("澄清/修改公告", "Clarification or amendment"),
    "notice.draft": ("草稿", "Draft"),
    "notice.published": ("已发布", "Published"),
}



def zh(key: str) -> str:
    return TEXTS[key][0]
