/// The four recipients every alert is pushed to at once (四个推送).
public enum TaskRecipient: String, Codable, Sendable, CaseIterable {
    case enforcementSquad      // 自然资源执法中队
    case townshipOffice        // 乡镇自然资源和规划所
    case townshipGovernment    // 乡镇街道办事处
    case fieldChief            // 田长 (the field chief's app)
}

/// A verification task (核查任务) created by the county from an alert and pushed to one recipient.
public struct VerificationTask: Hashable, Sendable, Codable {
    public enum Status: String, Codable, Sendable { case open, completed }

    public var id: RecordID
    public var caseID: RecordID
    public var recipient: TaskRecipient
    /// Person or unit id the task is addressed to (the field chief's person id for `.fieldChief`).
    public var assignee: String
    public var township: DivisionCode
    public var village: DivisionCode?
    public var createdAt: Timestamp
    public var deadlines: ThreeOnesDeadlines
    public var status: Status
    public var decision: CaseStatus?
    public var completedAt: Timestamp?

    public init(
        id: RecordID, caseID: RecordID, recipient: TaskRecipient, assignee: String, township: DivisionCode,
        village: DivisionCode?, createdAt: Timestamp, deadlines: ThreeOnesDeadlines, status: Status = .open,
        decision: CaseStatus? = nil, completedAt: Timestamp? = nil
    ) {
        self.id = id
        self.caseID = caseID
        self.recipient = recipient
        self.assignee = assignee
        self.township = township
        self.village = village
        self.createdAt = createdAt
        self.deadlines = deadlines
        self.status = status
        self.decision = decision
        self.completedAt = completedAt
    }

    /// Completes the task with a decision on the case.
    /// - Throws: `ValidationError` when the task is already complete or the decision is not a decision.
    public mutating func complete(decision: CaseStatus, at time: Timestamp) throws(ValidationError) {
        guard status == .open else {
            throw ValidationError(.illegalTransition, "Task \(id) is already completed.", field: "status")
        }
        guard decision.isDecision else {
            throw ValidationError(.invalidValue, "A verification ends in confirmed or dismissed, not \(decision.rawValue).", field: "decision")
        }
        status = .completed
        self.decision = decision
        completedAt = time
    }
}
