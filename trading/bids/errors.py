"""Why a bid is refused: one stable code per reason, in Chinese and English.

The finalize checks raise these in a fixed order (lot open, documents
obtained, outer signature, envelope, size) so that a bidder always learns the
first thing to fix. Signature and certificate failures keep the codes of
``signing.errors`` (``signature_bad``, ``certificate_revoked``...).
"""

from __future__ import annotations

from core.errors import Conflict, DomainError, NotFound


class BiddingClosed(DomainError):
    status = 409
    code = "bidding_closed"
    message = "该标段不在投标期内（项目未发布、已截标、已终止或暂停）"
    message_en = "This lot is not open for bids (not published, closed, cancelled)"


class DeadlinePassed(DomainError):
    status = 409
    code = "bid_deadline_passed"
    message = "投标截止时间已过，不再接收投标文件（以平台数据库时间为准）"
    message_en = "The bid deadline has passed (by the platform's database clock)"


class DocumentsNotObtained(DomainError):
    status = 403
    code = "documents_not_obtained"
    message = "贵单位未获取本项目招标文件，不能投标"
    message_en = "Your organization has not obtained the tender documents"


class NotABidder(DomainError):
    status = 403
    code = "not_a_bidder"
    message = "只有投标人单位的用户可以投标"
    message_en = "Only users of a bidding organization can submit bids"


class SignerNotBidder(DomainError):
    status = 422
    code = "bid_signer_not_bidder"
    message = "投标文件签名证书不属于投标单位（统一社会信用代码不符）"
    message_en = "The bid's signing certificate does not belong to the submitting organization"


class NotEncrypted(DomainError):
    status = 422
    code = "bid_not_encrypted"
    message = "投标文件未加密（须为 CMS 数字信封），平台拒收"
    message_en = "The bid is not encrypted (a CMS envelope is required); refused"


class WrongRecipients(DomainError):
    status = 422
    code = "bid_not_for_lot"
    message = "投标文件未用本标段的开标证书加密（接收者不含本标段开标证书）"
    message_en = "The bid is not encrypted for this lot's opening certificate"


class NoOwnRecipient(DomainError):
    status = 422
    code = "bid_no_own_recipient"
    message = "投标文件仅为开标证书加密，须同时加密给本单位的加密证书（开标时由投标人自行解密）"
    message_en = ("The bid is sealed for the opening certificate alone; it must also be "
                  "sealed for your own encryption certificate (you decrypt it at the opening)")


class TooLarge(DomainError):
    status = 413
    code = "bid_too_large"
    message = "投标文件超过本标段允许的大小"
    message_en = "The bid is larger than this lot allows"


class UploadIncomplete(DomainError):
    status = 409
    code = "bid_upload_incomplete"
    message = "投标文件尚未上传完整"
    message_en = "The bid file has not been uploaded completely"


class UploadCorrupted(DomainError):
    status = 422
    code = "bid_upload_corrupted"
    message = "上传内容的 SHA-256 与申报值不符，请重新上传"
    message_en = "The uploaded bytes do not match the declared SHA-256; upload again"


class PartOutOfOrder(Conflict):
    code = "bid_part_out_of_order"
    message = "分片须按顺序上传；请查询上传进度后从下一片继续"
    message_en = "Parts go in order; ask for the upload's progress and continue from there"


class PartWrongSize(DomainError):
    status = 400
    code = "bid_part_wrong_size"
    message = "分片大小与约定不符"
    message_en = "The part's length is not the agreed part size"


class UploadBusy(Conflict):
    """Another request holds the upload's lease; Retry-After says when it lapses at the latest."""

    code = "bid_upload_busy"
    message = "另一请求正在上传该分片或递交该投标，请稍后查询进度"
    message_en = "Another request is uploading a part of this bid or submitting it; "\
                 "check progress shortly"
    retry_after = 1


class UploadRestarted(Conflict):
    code = "bid_upload_restarted"
    message = "存储服务在合并分片时中断，已上传的分片无法使用；请用同一幂等键从第一片重新上传后再递交"
    message_en = "The object store failed while joining the parts, which cannot be used now; "\
                 "upload again from the first part (same idempotency key), then finalize"


class UploadFinalized(Conflict):
    code = "bid_upload_finalized"
    message = "该上传已完成递交，不能再追加内容"
    message_en = "This upload has been submitted already; nothing can be added"


class UploadExpired(DomainError):
    status = 410
    code = "bid_upload_expired"
    message = "投标截止时间已过，该上传未完成递交，已作废（已上传的部分已删除）"
    message_en = "The deadline passed before this upload was submitted: it has expired"


class KeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "该幂等键已用于另一份投标文件"
    message_en = "This idempotency key was used for a different bid upload"


class BidsSealed(DomainError):
    status = 403
    code = "bids_sealed"
    message = "投标截止前，任何人（含平台管理员）不能查看投标情况"
    message_en = "Before the deadline nobody, administrators included, can see the bids"


class BidNotCurrent(Conflict):
    code = "bid_not_current"
    message = "该投标文件已被替换或撤回"
    message_en = "This bid has been replaced or withdrawn"


class ReceiptUnavailable(DomainError):
    status = 503
    code = "receipt_unavailable"
    message = "平台签章或时间戳服务未配置，暂不能出具回执（投标未被接收）"
    message_en = ("The platform seal or timestamp authority is not configured; no receipt can "
                  "be issued, so the bid was not accepted")


class BidNotFound(NotFound):
    pass


class BidImmutable(DomainError):
    status = 403
    code = "bid_immutable"
    message = "已接收的投标文件不能修改或删除"
    message_en = "A received bid can be neither changed nor deleted"


class SubmissionInFlight(Conflict):
    code = "bid_submission_in_flight"
    message = "本单位该标段的另一次递交刚刚完成或正在进行，请查询后再试"
    message_en = "Another submission for this lot by your organization just completed or is "\
                 "in progress; check your bids and try again"


# the bids' constraint and trigger names, installed by the application (core.errors)
CONSTRAINTS: dict[str, type[DomainError]] = {
    "bids_sealed_after_deadline": DeadlinePassed,
    "bids_immutable": BidImmutable,
    "bids_never_deleted": BidImmutable,
    "bids_one_current_idx": SubmissionInFlight,
    "bid_uploads_key": KeyReused,
}
