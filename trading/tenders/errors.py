"""The tenders' business errors, in one place: each a stable code with a message in Chinese and
English (the hierarchy and the HTTP mapping are in ``core.errors``). The schedule rules' own
violations stay beside the rules in ``rules.py``."""

from __future__ import annotations

from core.errors import Conflict, DomainError
from trading.tenders.rules import RuleViolation


class DraftExists(Conflict):
    code = "clarification_draft_exists"
    message = "已有一份未发布的澄清，请先发布或删除"
    message_en = "An unpublished clarification exists; publish or delete it first"


class DeadlinePassed(Conflict):
    code = "tender_deadline_passed"
    message = "投标截止时间已过，不能再发布澄清或修改"
    message_en = "The bid deadline has passed: no more clarifications or amendments"


class DeadlineEarlier(RuleViolation):
    code = "clarification_deadline_earlier"
    message = "澄清不能提前投标截止时间"
    message_en = "A clarification cannot bring the bid deadline forward"


class DocumentsNotYetAvailable(DomainError):
    status = 409
    code = "documents_not_yet_available"
    message = "招标文件尚未开始发售"
    message_en = "The tender documents are not available yet"


class DocumentsPeriodOver(DomainError):
    status = 409
    code = "documents_period_over"
    message = "招标文件获取期已结束"
    message_en = "The period for obtaining the tender documents has ended"


class DocumentsNotObtained(DomainError):
    status = 403
    code = "documents_not_obtained"
    message = "请先获取招标文件（获取后方可下载）"
    message_en = "Obtain the tender documents first; downloads are for holders"


class HoldersSealed(DomainError):
    status = 403
    code = "holders_sealed"
    message = "投标截止前不公开获取招标文件的单位名称和数量（T7）"
    message_en = ("Who obtained the documents, and how many, is not disclosed before the "
                  "bid deadline (T7)")


class DocumentNameTaken(Conflict):
    code = "document_name_taken"
    message = "同名文件已存在，请先删除或改名"
    message_en = "A document with this name exists already; delete it or rename the file"


class DocumentFrozen(Conflict):
    code = "document_frozen"
    message = "已发布的文件不能修改或删除"
    message_en = "A published document cannot be changed or removed"


class SignerNotOfOrganization(DomainError):
    status = 422
    code = "signer_not_of_organization"
    message = "签名证书不属于本项目的招标人或代理机构"
    message_en = "The signing certificate does not belong to the tender's tenderer or agency"


class NoDocuments(RuleViolation):
    code = "tender_has_no_documents"
    message = "发布前须上传经签名的招标文件"
    message_en = "Upload the signed tender documents before publication"


class OfficersIncomplete(RuleViolation):
    code = "tender_officers_incomplete"
    message = "开标人（密钥分片持有人）人数与设定不符，或有人未绑定加密证书"
    message_en = ("The opening officers do not match officers_n, or one of them has no "
                  "encryption certificate bound")


class AnswerNotSigned(DomainError):
    status = 409
    code = "answer_signature_mismatch"
    message = "签名不是对这份答复的签名（答复内容或异议已变化），请重新获取答复内容并签名"
    message_en = "The signature is not over this answer (its text or the objection changed); " \
                 "fetch the answer's content again and sign it"


class NoticeOutdated(DomainError):
    status = 409
    code = "notice_outdated"
    message = "公告内容已变化，请重新获取公告并签名"
    message_en = "The notice changed since it was signed; fetch it again and sign it"


class InvalidTransition(Conflict):
    code = "tender_invalid_transition"
    message = "项目当前状态不允许此操作"
    message_en = "The tender's current state does not allow this"


class StaleVersion(Conflict):
    code = "tender_stale_version"
    message = "项目已被他人修改，请刷新后重试"
    message_en = "Someone else changed the tender; reload and try again"


class NoLots(RuleViolation):
    code = "tender_has_no_lots"
    message = "发布前至少需要一个标段"
    message_en = "A tender needs at least one lot before publication"


class IncompleteSchedule(RuleViolation):
    code = "tender_schedule_incomplete"
    message = "发布前须设定招标文件发售期和投标截止时间"
    message_en = "Set the documents period and the bid deadline before publication"


class BadWeights(RuleViolation):
    code = "tender_weights_invalid"
    message = "评分权重须为价格、技术、商务，合计100"
    message_en = "Weights are price, technical and commercial, adding up to 100"
