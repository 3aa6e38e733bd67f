import TianzhangDomain

/// How concurrent writes to one field merge. Protocol/CONFLICTS.md is the normative table.
public enum FieldRule: String, Hashable, Sendable, Codable, CaseIterable {
    /// Last writer wins by (HLC, change id); concurrent writes with different values raise a conflict.
    case lastWriterWins = "lww"
    /// Like `lastWriterWins`, but only the hub may write; writes from below are refused (and ignored by
    /// the merge): an edit from below is a correction request instead.
    case hubOwned = "hub_owned"
    /// A case's status: a later stage wins; incompatible decisions (confirmed vs dismissed) keep the
    /// confirmed line as the provisional winner and raise a conflict; rounds restart after re-opening.
    case workflow
    /// Grow-only set: every element added anywhere is kept.
    case growOnlySet = "grow_set"
    /// Written once, at creation: the earliest write wins; divergent re-writes raise a conflict.
    case immutable
    /// The largest value wins (monotone counters and one-way flags).
    case maximum = "max"
}

/// Which rule governs each field of each record type.
public enum RuleBook {
    /// Fields of a parcel that only the hub writes (the "one map" reference data).
    public static let parcelReferenceFields: Set<String> = ["geometry", "landClass", "areaMu", "isPermanentBasicFarmland", "village", "retired"]

    /// The rule for `field` of `type`. Unknown fields of known types are last-writer-wins.
    public static func rule(for type: RecordType, field: String) -> FieldRule {
        switch type {
        case .parcel:
            parcelReferenceFields.contains(field) ? .hubOwned : .lastWriterWins
        case .enforcementCase:
            switch field {
            case "status": .workflow
            case "assignees", "parcelIDs": .growOnlySet
            default: .lastWriterWins
            }
        case .timelineEntry, .checkIn, .attachment:
            .immutable
        case .verificationTask:
            field == "status" ? .maximum : .lastWriterWins
        case .fieldChief:
            .lastWriterWins
        case .division, .enrolment:
            .hubOwned
        case .receipt:
            switch field {
            case "through": .maximum
            case "rejected", "accepted": .growOnlySet
            default: .hubOwned
            }
        case .correction:
            correctionDecisionFields.contains(field) ? .hubOwned : .immutable
        }
    }

    /// The order of values under the `maximum` rule: numbers by value; task statuses open < completed.
    public static func rank(_ value: JSONValue) -> Double {
        switch value {
        case .number(let number): number
        case .string("open"): 0
        case .string("completed"): 1
        default: -1
        }
    }

    /// The fields of a correction request that only the county writes: its decision.
    public static let correctionDecisionFields: Set<String> = ["decision", "decidedBy", "decisionNote"]

    /// Record types only the hub creates or changes.
    public static let hubOnlyTypes: Set<RecordType> = [.division, .receipt, .enrolment]

    /// Record types whose records are written once and never changed.
    public static let immutableTypes: Set<RecordType> = [.timelineEntry, .checkIn, .attachment]
}

/// A case's status value as merged: `{"status": "confirmed", "round": 1, "decision": "confirmed"}`.
/// `decision` carries the verification outcome along the case's line, so a later stage still shows
/// which decision it rests on.
public struct WorkflowValue: Hashable, Sendable, Codable {
    public var status: CaseStatus
    public var round: Int
    public var decision: CaseStatus?

    public init(status: CaseStatus, round: Int, decision: CaseStatus? = nil) {
        self.status = status
        self.round = round
        self.decision = decision ?? (status.isDecision ? status : nil)
    }

    public var json: JSONValue { JSONValue(encoding: self) }

    public init?(_ value: JSONValue) {
        guard var decoded = try? value.decode(as: WorkflowValue.self), decoded.round >= 1 else { return nil }
        if let decision = decoded.decision, !decision.isDecision { return nil }
        if decoded.status.isDecision { decoded.decision = decoded.status }
        self = decoded
    }

    /// The decision this value rests on: its own when it is one, else the one it carries.
    public var line: CaseStatus? { status.isDecision ? status : decision }
}
