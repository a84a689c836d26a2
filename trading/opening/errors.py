"""Why a bid cannot be opened: one stable code per reason, in Chinese and English.

A wrong content key keeps the envelope's own code (``envelope_wrong_key``), a
replaced or withdrawn bid the bids' own (``bid_not_current``).
"""

from __future__ import annotations

from core.errors import Conflict, DomainError


class OpeningNotStarted(Conflict):
    code = "opening_not_started"
    message = "尚未到投标截止（开标）时间，任何投标文件都不能解密"
    message_en = "The bid deadline (the opening) has not come: no bid can be decrypted yet"


class WindowClosed(Conflict):
    code = "decryption_window_closed"
    message = "解密时间已结束"
    message_en = "The decryption window has closed"


class InnerSignerNotBidder(DomainError):
    status = 422
    code = "inner_signer_not_bidder"
    message = "投标文件内的签名不属于递交投标的单位"
    message_en = "The signature inside the bid is not the submitting organization's"


class PriceSheetMismatch(DomainError):
    status = 422
    code = "price_sheet_mismatch"
    message = "开标一览表中的项目、标段或投标人与所递交的投标不一致"
    message_en = "The price sheet names another tender, lot or bidder than the bid"


class StoredBidUnreadable(DomainError):
    """The platform's failure, not the bidder's (S6: withdrawn before the deadline)."""

    status = 503
    code = "stored_bid_unreadable"
    message = "平台存储的投标文件暂时无法读取或与递交时不一致（平台原因），请稍后重试"
    message_en = ("The stored bid cannot be read, or differs from what was received "
                  "(the platform's fault); try again later")


class OpenedBidImmutable(Conflict):
    code = "opened_bid_immutable"
    message = "已解密的投标记录不能修改或删除"
    message_en = "An opened bid's record cannot be changed or deleted"


# the opening's constraint and trigger names, installed by the application (core.errors)
CONSTRAINTS: dict[str, type[DomainError]] = {"bid_openings_immutable": OpenedBidImmutable}


class LotFailed(Conflict):
    code = "lot_failed"
    message = "本标段有效投标不足，未开标（流标），投标文件不解密"
    message_en = "Too few valid bids: this lot failed without opening, and no bid is decrypted"


class TenderCancelled(Conflict):
    code = "tender_cancelled"
    message = "招标项目已终止，投标文件不解密"
    message_en = "The tender was cancelled: no bid is decrypted"


class NotAnOfficer(DomainError):
    status = 403
    code = "not_opening_officer"
    message = "您不是本标段的开标人，没有密钥分片"
    message_en = "You are not an opening officer of this lot and hold no share"


class SharesNotNeeded(Conflict):
    code = "opening_shares_not_needed"
    message = "本标段当前不需要开标人提交密钥分片（仅在解密时间结束后仍有未解密的投标文件时需要）"
    message_en = ("This lot does not need the officers' shares now (only once the decryption "
                  "window has closed on bids left encrypted)")


class HeldShareUnreadable(Conflict):
    code = "opening_share_resubmit"
    message = "平台保存的密钥分片无法读取（平台密钥已更换），请开标人重新提交"
    message_en = "A held share can no longer be read (the platform's secret changed): resubmit it"


class RecordUnreadable(DomainError):
    status = 503
    code = "opening_record_unreadable"
    message = "开标记录文件暂时无法读取或与登记的指纹不符（平台原因）"
    message_en = "The opening record cannot be read, or differs from its recorded SHA-256"


class BidContentInvalid(DomainError):
    """What only the bidder could have made right: the bid decrypts to no valid signed ZIP."""

    status = 422
    code = "bid_content_invalid"
    message = "投标文件解密后的内容无效（签名文件或压缩包格式错误）"
    message_en = "The decrypted bid is not a valid signed ZIP"
