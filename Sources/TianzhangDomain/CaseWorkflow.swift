/// The status of an enforcement case along its workflow.
///
/// ```
/// reported → verifying → confirmed → stopped → rectifying → rectified → closed
///                     ↘ dismissed ─────────────────────────────────────↗   │
///   ↑                                      rectified → rectifying (re-check failed)
///   └──────────── re-open (new round, after a rebound) ────────────────────┘
/// ```
public enum CaseStatus: String, Codable, Sendable, CaseIterable {
    case reported       // 上报 (suspected)
    case verifying      // 核查中
    case confirmed      // 确认违法
    case dismissed      // 不违法 / 合法 (legal use, not a violation)
    case stopped        // 已制止
    case rectifying     // 整改中
    case rectified      // 已整改
    case closed         // 已销号

    /// Position along the workflow: a later stage wins over an earlier one when replicas merge.
    /// `confirmed` and `dismissed` share a stage: they are the two incompatible decisions.
    public var stage: Int {
        switch self {
        case .reported: 0
        case .verifying: 1
        case .confirmed, .dismissed: 2
        case .stopped: 3
        case .rectifying: 4
        case .rectified: 5
        case .closed: 6
        }
    }

    public var isOpen: Bool { self != .closed }

    /// Whether this status records a decision on the case (confirmed illegal, or dismissed).
    public var isDecision: Bool { self == .confirmed || self == .dismissed }
}

/// A refused workflow transition: which one, by whom, and why.
public struct IllegalTransition: Error, Hashable, Sendable, CustomStringConvertible {
    public var from: CaseStatus
    public var to: CaseStatus
    public var role: ActorRole
    public var reason: Reason

    public enum Reason: String, Hashable, Sendable, Codable {
        /// The workflow has no edge from `from` to `to`.
        case notAnEdge = "not_an_edge"
        /// Only the county may close a case (销号).
        case closingIsCountyOnly = "closing_is_county_only"
        /// Re-opening is for the county or a township office.
        case reopenNotAllowedForRole = "reopen_not_allowed_for_role"
        /// Setting the status it already has.
        case sameStatus = "same_status"
        /// A step that does not stay in the case's round, or a re-open that does not start the next one.
        case wrongRound = "wrong_round"
        /// A later stage that rests on another decision than the one it moves from.
        case changesDecision = "changes_decision"
    }

    /// The round numbers involved, for `wrongRound`.
    public var fromRound = 0
    public var toRound = 0

    public var description: String {
        let edge = "\(from.rawValue) → \(to.rawValue)"
        switch reason {
        case .notAnEdge:
            let allowed = CaseWorkflow.successors(of: from).map(\.rawValue).sorted().joined(separator: ", ")
            return "Illegal transition \(edge): from \(from.rawValue) a case can move to \(allowed.isEmpty ? "nothing" : allowed)."
        case .closingIsCountyOnly:
            return "Illegal transition \(edge) by \(role.rawValue): closing a case (销号) is the county's alone."
        case .reopenNotAllowedForRole:
            return "Illegal transition \(edge) by \(role.rawValue): only the county or a township office re-opens a closed case."
        case .sameStatus:
            return "Illegal transition \(edge): the case is already \(from.rawValue)."
        case .wrongRound:
            let (a, b) = (fromRound, toRound)
            return from == .closed && to == .reported
                ? "Illegal transition \(edge) from round \(a) to round \(b): a re-open starts round \(a + 1)."
                : "Illegal transition \(edge) from round \(a) to round \(b): only a re-open of a closed case starts a new round."
        case .changesDecision:
            return "Illegal transition \(edge): a later stage keeps the decision it rests on."
        }
    }

    /// The same refusal as a wire-stable validation error (`illegal_transition` / `not_authorized`).
    public var validationError: ValidationError {
        let code: ValidationError.Code = reason == .closingIsCountyOnly || reason == .reopenNotAllowedForRole ? .notAuthorized : .illegalTransition
        return ValidationError(code, description, field: "status")
    }
}

/// The legal transitions of a case, and who may make them.
public enum CaseWorkflow {
    /// The statuses reachable in one step from `status` (re-opening included).
    public static func successors(of status: CaseStatus) -> Set<CaseStatus> {
        switch status {
        case .reported: [.verifying]
        case .verifying: [.confirmed, .dismissed]
        case .confirmed: [.stopped]
        case .dismissed: [.closed]
        case .stopped: [.rectifying]
        case .rectifying: [.rectified]
        case .rectified: [.closed, .rectifying]
        case .closed: [.reported]
        }
    }

    /// Checks one transition.
    /// - Throws: `IllegalTransition` with the reason.
    public static func check(from: CaseStatus, to: CaseStatus, by role: ActorRole) throws(IllegalTransition) {
        if from == to { throw IllegalTransition(from: from, to: to, role: role, reason: .sameStatus) }
        guard successors(of: from).contains(to) else {
            throw IllegalTransition(from: from, to: to, role: role, reason: .notAnEdge)
        }
        if to == .closed && role != .county {
            throw IllegalTransition(from: from, to: to, role: role, reason: .closingIsCountyOnly)
        }
        if from == .closed && role == .patrol {
            throw IllegalTransition(from: from, to: to, role: role, reason: .reopenNotAllowedForRole)
        }
    }

    /// Checks a transition with its rounds and decision lines, as a receiver does for a change from
    /// below (Protocol/WORKFLOW.md). - Returns: `nil` when it is legal, else the refusal.
    public static func refusal(
        from: CaseStatus, fromRound: Int, fromLine: CaseStatus?, to: CaseStatus, toRound: Int, toLine: CaseStatus?, by role: ActorRole
    ) -> ValidationError? {
        do throws(IllegalTransition) {
            try check(from: from, to: to, by: role)
        } catch {
            return error.validationError
        }
        let reopen = from == .closed && to == .reported
        if toRound != (reopen ? fromRound + 1 : fromRound) {
            var refusal = IllegalTransition(from: from, to: to, role: role, reason: .wrongRound)
            refusal.fromRound = fromRound
            refusal.toRound = toRound
            return refusal.validationError
        }
        if !reopen, !to.isDecision, let fromLine, toLine != fromLine {
            return IllegalTransition(from: from, to: to, role: role, reason: .changesDecision).validationError
        }
        return nil
    }
}
