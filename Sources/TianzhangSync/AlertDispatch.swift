import Crypto
import Foundation
import TianzhangDomain

/// What the county made of one alert: the case and its four verification tasks (四个推送).
public struct DispatchedAlert: Hashable, Sendable, Codable {
    public var caseID: String
    /// One task per `TaskRecipient`, in `TaskRecipient.allCases` order.
    public var taskIDs: [String]
    public var township: DivisionCode
    public var village: DivisionCode?
    /// False when the alert had been dispatched before: nothing new was written.
    public var created: Bool
}

extension SyncEngine {
    /// The case id of an alert: `alert-` and 32 hex digits of SHA-256 over source and external id, so
    /// the same alert always names the same case (the idempotency key of dispatch).
    public static func alertCaseID(source: CaseSource, externalID: String) -> String {
        let digest = SHA256.hash(data: Data("\(source.rawValue)\n\(externalID)".utf8))
        return "alert-" + Hex.encode(digest.prefix(16))
    }

    /// The id of the task for `recipient` of a case: `<case id>-<recipient>`.
    public static func alertTaskID(caseID: String, recipient: TaskRecipient) -> String { "\(caseID)-\(recipient.rawValue)" }

    /// The case an alert was dispatched to before, if it was.
    /// - Throws: the store's errors; `ValidationError` (`invalid_division_code`) for a corrupt case record.
    public func dispatchedAlert(source: CaseSource, externalID: String, in tx: any SyncTransaction) throws -> DispatchedAlert? {
        let caseID = Self.alertCaseID(source: source, externalID: externalID)
        guard let state = try tx.recordState(RecordKey(.enforcementCase, caseID)) else { return nil }
        let object = state.materialized.objectValue ?? [:]
        let township = try object["township"]?.stringValue.map { try DivisionCode($0, level: .township) } ?? (state.scope.township ?? state.scope)
        let village = try object["village"]?.stringValue.map { try DivisionCode($0, level: .village) }
        return DispatchedAlert(
            caseID: caseID, taskIDs: TaskRecipient.allCases.map { Self.alertTaskID(caseID: caseID, recipient: $0) },
            township: township, village: village, created: false)
    }

    /// Turns a placed alert into a case and four verification tasks, as hub changes that sync down: the
    /// case and the tasks are scoped to the main village, so the township's node and the village's
    /// patrol devices receive them. Run it in one transaction per alert (or one for a whole import).
    ///
    /// The case: `source` from the alert, status `reported`, `discoveredAt` = the alert's time (the
    /// "three ones" clocks run from it), location an interior point, the affected area in mu, the
    /// parcels it lies on (`placement.parcels`), the four assignees. Each task: its recipient, its assignee (`TaskRecipient.assignee`; the field chief of the
    /// main village), the deadlines from discovery (+1 h, +1 h, +24 h), status open.
    ///
    /// Idempotent: an alert (source + external id) dispatched before writes nothing and answers with
    /// the case it created first (`created == false`).
    /// - Parameters:
    ///   - fieldChief: the main village's field chief (default `chief-<village>`, the generator's ids).
    /// - Throws: `ProtocolError` (`not_authorized`) when this replica is not the hub; `Rejection` when a
    ///   record would be refused (an `invalid_value` the alert's validation should have caught).
    public func dispatch(
        _ alert: Alert, placement: AlertPlacement, fieldChief: String?, author: String, physicalNow: Int64, in tx: any SyncTransaction
    ) throws -> DispatchedAlert {
        let meta = try requireMeta(tx)
        guard meta.replica.kind == .hub else { throw ProtocolError(code: "not_authorized", message: "Only the county hub dispatches alerts.") }
        if let earlier = try dispatchedAlert(source: alert.source, externalID: alert.externalID, in: tx) { return earlier }
        let caseID = Self.alertCaseID(source: alert.source, externalID: alert.externalID)
        let village = placement.mainVillage, township = placement.township
        let chief = fieldChief ?? "chief-\(village.rawValue)"
        let assignees = TaskRecipient.allCases.map { $0.assignee(township: township, fieldChief: chief) }
        let newCase = EnforcementCase(
            id: try RecordID(caseID), source: alert.source, violation: alert.violation, location: placement.location, township: township,
            village: village, parcelIDs: placement.parcels, affectedAreaMu: (placement.areaMu * 100).rounded() / 100, assignees: assignees, discoveredAt: alert.at,
            status: .reported, summary: alert.note)
        var caseFields: [String: FieldOperation] = [
            "source": .set(.string(newCase.source.rawValue)), "violation": .set(.string(newCase.violation.rawValue)),
            "location": .set(JSONValue(encoding: newCase.location)), "township": .set(.string(township.rawValue)),
            "village": .set(.string(village.rawValue)), "affectedAreaMu": .set(.number(newCase.affectedAreaMu)),
            "assignees": .add(assignees.map { .string($0) }), "discoveredAt": .set(.number(Double(alert.at.milliseconds))),
            "status": .set(WorkflowValue(status: .reported, round: 1).json), "summary": .set(.string(newCase.summary)),
            "alert": .set(.object(["source": .string(alert.source.rawValue), "externalID": .string(alert.externalID)])),
        ]
        if !placement.parcels.isEmpty { caseFields["parcelIDs"] = .add(placement.parcels.map { .string($0.rawValue) }) }
        try record(Draft(type: .enforcementCase, id: caseID, scope: village, author: author, fields: caseFields), physicalNow: physicalNow, in: tx)
        var taskIDs: [String] = []
        for (recipient, assignee) in zip(TaskRecipient.allCases, assignees) {
            let id = Self.alertTaskID(caseID: caseID, recipient: recipient)
            let task = VerificationTask(
                id: try RecordID(id), caseID: newCase.id, recipient: recipient, assignee: assignee, township: township, village: village,
                createdAt: Timestamp(milliseconds: physicalNow), deadlines: newCase.deadlines)
            var fields: [String: FieldOperation] = [:]
            for (key, value) in JSONValue(encoding: task).objectValue ?? [:] where key != "id" { fields[key] = .set(value) }
            try record(Draft(type: .verificationTask, id: id, scope: village, author: author, fields: fields), physicalNow: physicalNow, in: tx)
            taskIDs.append(id)
        }
        return DispatchedAlert(caseID: caseID, taskIDs: taskIDs, township: township, village: village, created: true)
    }
}
