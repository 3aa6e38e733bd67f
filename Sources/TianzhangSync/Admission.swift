import TianzhangDomain

/// What a receiver knows when it decides whether to take a change.
public struct AdmissionContext: Sendable {
    /// The jurisdiction the change's origin may write in (from its credential), or the pushing peer's.
    public var writerJurisdiction: Jurisdiction
    /// The receiver's physical clock, in milliseconds.
    public var physicalNow: Int64
    /// How far ahead of `physicalNow` a stamp may be.
    public var futureToleranceMilliseconds: Int64
    /// The receiver's current state of the record, if it has one.
    public var existing: RecordState?
    /// The land-class list to check parcel classes against.
    public var landClasses: LandClassCatalog?
    /// For a change that sets a case's status on top of earlier writes: the status values its base
    /// names, as this receiver holds them (the case's "from" side of the transition; `nil`: not looked up).
    public var baseStatuses: [WorkflowValue]?
    /// The verdicts of the expensive stateless checks, worked out before the write transaction
    /// (`Admission.precheck`); a value without one is checked here.
    public var prechecked: Admission.Prechecked?

    public init(
        writerJurisdiction: Jurisdiction, physicalNow: Int64, futureToleranceMilliseconds: Int64 = 5 * 60_000,
        existing: RecordState? = nil, landClasses: LandClassCatalog? = nil, baseStatuses: [WorkflowValue]? = nil
    ) {
        self.writerJurisdiction = writerJurisdiction
        self.physicalNow = physicalNow
        self.futureToleranceMilliseconds = futureToleranceMilliseconds
        self.existing = existing
        self.landClasses = landClasses
        self.baseStatuses = baseStatuses
    }
}

/// The receiver's checks on one change, before it is merged. Pure: the same change and context always
/// give the same answer. Each refusal names its code and field (Protocol/errors.md).
public enum Admission {
    /// Field operations in one change (SPEC §8): a case, the largest record, has fewer than 20 fields.
    public static let opsMax = 64
    /// Top-level members of a change this version does not know (kept and relayed, SPEC §7).
    public static let extensionsMax = 16
    /// How deeply a value (an op's value, an unknown member) may nest arrays and objects.
    public static let valueDepthMax = 16
    /// The largest area in mu a parcel or a case may state: 10,000,000 mu (6,667 km², several counties).
    public static let areaMuMax = 10_000_000.0
    /// The highest verification round a case's status may carry.
    public static let roundMax = 1_000
    /// The largest polygon taken (SPEC §8).
    public static let geometryLimits = GeometryLimits.v1

    /// The verdicts of the stateless expensive checks of a batch: each polygon's size and validity, by
    /// change and field (`geometry` of a parcel, `proposed.geometry` of a correction).
    public struct Prechecked: Sendable {
        var geometry: [ChangeID: [String: Rejection?]] = [:]
        /// Signature verdicts worked out before the write transaction (`verifySignatures`): the keys each
        /// change was checked against, and whether it verified under one of them.
        var signatures: [ChangeID: (keys: [String], valid: Bool)] = [:]
        public init() {}

        /// Verifies the signature of every signed change whose origin has keys, so the receiver's write
        /// transaction only looks the verdict up (a verdict counts only for the same keys).
        /// An id that comes twice in the batch gets no verdict (each copy is verified in the transaction).
        public mutating func verifySignatures(_ changes: [Change], keys: (ReplicaID) -> OriginKeys) {
            let once = Dictionary(changes.map { ($0.id, 1) }, uniquingKeysWith: +).filter { $0.value == 1 }
            for change in changes where change.signature != nil && once[change.id] != nil {
                guard case .keys(let known) = keys(change.origin) else { continue }
                signatures[change.id] = (known, ChangeSigning.verify(change, publicKeys: known))
            }
        }

        /// The verdict for a change under `keys`, if one was worked out for them.
        func signatureVerdict(_ change: Change, keys: [String]) -> Bool? {
            guard let verdict = signatures[change.id], verdict.keys == keys else { return nil }
            return verdict.valid
        }
        /// How many polygons were checked.
        public var polygons: Int { geometry.values.reduce(0) { $0 + $1.count } }
    }

    /// Works out the expensive checks of `changes` (polygon size and validity: O(n log n) each) without
    /// any store, so a receiver runs them before its write transaction. `check` with the result in its
    /// context gives the same answers as without it.
    public static func precheck(_ changes: [Change]) -> Prechecked {
        var result = Prechecked()
        for change in changes where result.geometry[change.id] == nil {
            var verdicts: [String: Rejection?] = [:]
            switch change.recordType {
            case .parcel:
                if case .set(let value) = change.fields["geometry"] { verdicts["geometry"] = .some(geometryRejection(value, path: "ops.geometry")) }
            case .correction:
                if case .set(let proposed) = change.fields["proposed"], let value = proposed.objectValue?["geometry"] {
                    verdicts["proposed.geometry"] = .some(geometryRejection(value, path: "ops.geometry"))
                }
            default: break
            }
            if !verdicts.isEmpty { result.geometry[change.id] = verdicts }
        }
        return result
    }

    /// A geometry value's refusal, if any: not a polygon, over the size limits (checked first), invalid.
    static func geometryRejection(_ value: JSONValue, path: String) -> Rejection? {
        guard let polygon = try? value.decode(as: Polygon.self) else {
            return Rejection(.invalidGeometry, "geometry must be a polygon: {\"rings\": [[{\"longitude\":…,\"latitude\":…}, …]]}.", field: path)
        }
        do throws(ValidationError) {
            try polygon.checkSize(geometryLimits)
            try polygon.validate()
        } catch {
            return Rejection(error, fieldPrefix: path)
        }
        return nil
    }

    /// Depth of nested arrays and objects (a scalar is 0), counted up to `limit + 1`.
    static func depth(_ value: JSONValue, limit: Int) -> Int {
        guard limit >= 0 else { return 1 }
        switch value {
        case .array(let items): return 1 + (items.lazy.map { depth($0, limit: limit - 1) }.max() ?? 0)
        case .object(let members): return 1 + (members.values.lazy.map { depth($0, limit: limit - 1) }.max() ?? 0)
        default: return 0
        }
    }

    /// The size limits of one change: ops, unknown members, nesting.
    static func checkShape(_ change: Change) -> Rejection? {
        if change.fields.count > opsMax {
            return Rejection(.changeTooLarge, "The change has \(change.fields.count) field operations; at most \(opsMax) a change.", field: "ops")
        }
        if change.extensions.count > extensionsMax {
            return Rejection(.changeTooLarge, "The change has \(change.extensions.count) members this receiver does not know; at most \(extensionsMax).", field: "change")
        }
        for (name, operation) in change.fields.sorted(by: { $0.key < $1.key }) {
            let value: JSONValue = switch operation {
            case .set(let value): value
            case .add(let values): .array(values)
            }
            if depth(value, limit: valueDepthMax) > valueDepthMax {
                return Rejection(.changeTooLarge, "The value of \(name) nests arrays and objects more than \(valueDepthMax) deep.", field: "ops.\(name)")
            }
        }
        for name in change.extensions.keys.sorted() where depth(change.extensions[name]!, limit: valueDepthMax) > valueDepthMax {
            return Rejection(.changeTooLarge, "Member \(name) nests arrays and objects more than \(valueDepthMax) deep.", field: name)
        }
        return nil
    }
    /// Whether the merge folds this field write in. Writes that only the county may make are ignored
    /// when they come from below (receivers refuse them earlier with a clear reason).
    public static func mayWrite(field: String, rule: FieldRule, type: RecordType, change: Change) -> Bool {
        if change.origin.kind == .hub { return true }
        if rule == .hubOwned || RuleBook.hubOnlyTypes.contains(type) { return false }
        if rule == .workflow, case .set(let value) = change.fields[field], WorkflowValue(value)?.status == .closed { return false }
        return true
    }

    /// Checks one change. Returns `nil` when the change may be merged.
    public static func check(_ change: Change, context: AdmissionContext) -> Rejection? {
        guard let type = change.recordType else {
            let known = RecordType.allCases.map(\.rawValue).joined(separator: ", ")
            return Rejection(.unsupportedRecordType, "Record type \"\(change.recordTypeName)\" is not supported by this receiver (protocol v1 knows \(known)); keep the change until the receiver is upgraded.", field: "type")
        }
        if change.fields.isEmpty { return Rejection(.emptyChange, "The change has no field operations.", field: "ops") }
        if let rejection = checkShape(change) { return rejection }
        if context.writerJurisdiction.covers(change.scope) == false {
            return Rejection(.outsideJurisdiction, "Record \(type.rawValue)/\(change.recordID) lies in \(change.scope); writer \(change.origin) writes for \(describe(context.writerJurisdiction)) only.", field: "scope")
        }
        if change.hlc.wall > context.physicalNow + context.futureToleranceMilliseconds {
            let minutes = (change.hlc.wall - context.physicalNow) / 60_000
            return Rejection(.clockAhead, "The change is stamped \(minutes) min ahead of the receiver's clock; correct the device clock, then amend and resend.", field: "hlc")
        }
        if change.origin.kind != .hub {
            if RuleBook.hubOnlyTypes.contains(type) {
                return Rejection(.hubOnlyRecord, "Only the county hub writes \(type.rawValue) records.", field: "type")
            }
            for field in change.fields.keys.sorted() where RuleBook.rule(for: type, field: field) == .hubOwned {
                return Rejection(.hubOwnedField, "\(type.rawValue).\(field) is county reference data; send a correction request instead of editing it.", field: "ops.\(field)")
            }
        }
        if let existing = context.existing, existing.scope != change.scope {
            return Rejection(.scopeMismatch, "\(type.rawValue)/\(change.recordID) lies in \(existing.scope); a change cannot place it in \(change.scope).", field: "scope")
        }
        if RuleBook.immutableTypes.contains(type), let existing = context.existing, !existing.context.covers(change.id) {
            return Rejection(.immutableRecord, "\(type.rawValue)/\(change.recordID) already exists and is never changed; record a new entry instead.", field: "record")
        }
        for field in change.fields.keys.sorted() {
            if let rejection = checkValue(type: type, field: field, operation: change.fields[field]!, change: change, context: context) {
                return rejection
            }
        }
        if change.base.isEmpty && context.existing == nil, let rejection = checkCreation(type: type, change: change, context: context) {
            return rejection
        }
        if type == .enforcementCase, let rejection = checkTransition(change, context: context) { return rejection }
        return nil
    }

    /// The normative workflow table (Protocol/WORKFLOW.md) for changes from below the county: a case is
    /// created `reported` in round 1, and every later status write must be an edge of the table, by a
    /// role the table allows, from one of the statuses the writer built on (its base), in the same
    /// round, except a re-open, which starts the next round. The county's own writes are not limited
    /// here (its tools check them before they are made).
    static func checkTransition(_ change: Change, context: AdmissionContext) -> Rejection? {
        guard change.origin.kind != .hub, case .set(let value) = change.fields["status"], let to = WorkflowValue(value) else { return nil }
        let role = change.origin.role
        if change.base.isEmpty && context.existing == nil {
            guard to.status == .reported, to.round == 1 else {
                return Rejection(.illegalTransition, "A case is created reported in round 1; \(role.rawValue) created one \(to.status.rawValue) in round \(to.round).", field: "ops.status")
            }
            return nil
        }
        guard let froms = context.baseStatuses else { return nil }
        guard !froms.isEmpty else {
            return Rejection(.illegalTransition, "The status write builds on no status of the case this receiver holds; pull the case, then make the transition again.", field: "ops.status")
        }
        var refusals: [Rejection] = []
        for from in froms {
            guard let refusal = CaseWorkflow.refusal(from: from.status, fromRound: from.round, fromLine: from.line, to: to.status, toRound: to.round, toLine: to.line, by: role) else {
                return nil
            }
            refusals.append(Rejection(refusal, fieldPrefix: "ops"))
        }
        return refusals.first
    }

    static func describe(_ jurisdiction: Jurisdiction) -> String { jurisdiction.summary }

    /// Per-field value checks that do not need the rest of the record.
    /// - Parameter precheckKey: the key of a precomputed geometry verdict (`proposed.geometry` for a
    ///   correction's proposal; the field by default).
    static func checkValue(type: RecordType, field: String, operation: FieldOperation, change: Change, context: AdmissionContext, precheckKey: String? = nil) -> Rejection? {
        let path = "ops.\(field)"
        let rule = RuleBook.rule(for: type, field: field)
        switch (operation, rule) {
        case (.add, .growOnlySet), (.set, .lastWriterWins), (.set, .hubOwned), (.set, .workflow), (.set, .immutable), (.set, .maximum):
            break
        case (.add, _):
            return Rejection(.invalidValue, "\(type.rawValue).\(field) is not a set; use {\"set\": value}.", field: path)
        case (.set, .growOnlySet):
            return Rejection(.invalidValue, "\(type.rawValue).\(field) is a grow-only set; use {\"add\": [values]}.", field: path)
        }
        guard case .set(let value) = operation else { return nil }
        do throws(ValidationError) {
            switch (type, field) {
            case (.parcel, "geometry"):
                if let verdict = context.prechecked?.geometry[change.id]?[precheckKey ?? field] {
                    if let verdict { return verdict }
                } else if let rejection = geometryRejection(value, path: path) {
                    return rejection
                }
            case (.parcel, "landClass"):
                guard let code = value.stringValue else { return Rejection(.invalidValue, "landClass must be a string.", field: path) }
                _ = try context.landClasses?.landClass(code, field: nil)
            case (.parcel, "village"), (.enforcementCase, "village"):
                if value != .null {
                    guard let text = value.stringValue else { return Rejection(.invalidValue, "village must be a 12-digit code.", field: path) }
                    let code = try DivisionCode(text, level: .village)
                    if !context.writerJurisdiction.covers(code) {
                        return Rejection(.outsideJurisdiction, "Village \(code) is outside the writer's jurisdiction (\(describe(context.writerJurisdiction))).", field: path)
                    }
                }
            case (.enforcementCase, "township"):
                guard let text = value.stringValue else { return Rejection(.invalidValue, "township must be a 9-digit code.", field: path) }
                _ = try DivisionCode(text, level: .township)
            case (.parcel, "areaMu"), (.enforcementCase, "affectedAreaMu"):
                guard let number = value.numberValue, number.isFinite, number >= 0, number <= areaMuMax else {
                    return Rejection(.invalidValue, "\(field) must be a number of mu from 0 to \(Int(areaMuMax)).", field: path)
                }
            case (.enforcementCase, "status"):
                guard let workflow = WorkflowValue(value), workflow.round <= roundMax else {
                    return Rejection(.invalidValue, "status must be {\"status\": one of \(CaseStatus.allCases.map(\.rawValue).joined(separator: "/")), \"round\": 1…\(roundMax), \"decision\": confirmed|dismissed|null}.", field: path)
                }
                if change.origin.kind != .hub, workflow.status == .closed {
                    return Rejection(.notAuthorized, "Closing a case (销号) is the county's alone.", field: path)
                }
            case (.enforcementCase, "location"):
                guard let point = try? value.decode(as: Coordinate.self) else {
                    return Rejection(.invalidValue, "location must be {\"longitude\": …, \"latitude\": …}.", field: path)
                }
                try point.validate()
            case (.enforcementCase, "source"):
                guard value.stringValue.flatMap(CaseSource.init(rawValue:)) != nil else {
                    return Rejection(.invalidValue, "source must be one of \(CaseSource.allCases.map(\.rawValue).joined(separator: ", ")).", field: path)
                }
            case (.enforcementCase, "violation"):
                guard value.stringValue.flatMap(ViolationType.init(rawValue:)) != nil else {
                    return Rejection(.invalidValue, "violation must be one of \(ViolationType.allCases.map(\.rawValue).joined(separator: ", ")).", field: path)
                }
            default:
                break
            }
        } catch {
            return Rejection(error, fieldPrefix: path)
        }
        return nil
    }

    /// A creation (empty base, unknown record) must describe a whole, valid record.
    static func checkCreation(type: RecordType, change: Change, context: AdmissionContext) -> Rejection? {
        var object: [String: JSONValue] = ["id": .string(change.recordID)]
        for (field, operation) in change.fields {
            switch operation {
            case .set(let value): object[field] = value
            case .add(let values): object[field] = .array(values)
            }
        }
        let json = JSONValue.object(object)
        do throws(ValidationError) {
            switch type {
            case .parcel:
                guard let parcel = try? json.decode(as: Parcel.self) else { return incomplete(type, Parcel.self, json) }
                if let catalog = context.landClasses { try parcel.validate(landClasses: catalog) }
                if parcel.village != change.scope {
                    return Rejection(.invalidValue, "A parcel's scope must be its village \(parcel.village), not \(change.scope).", field: "scope")
                }
            case .enforcementCase:
                guard var record = try? json.decode(as: EnforcementCase.self) else {
                    // The status travels as a workflow value; decode it separately.
                    return checkCaseCreation(object: object, change: change)
                }
                record.status = .reported
                try record.validate()
            case .timelineEntry:
                guard let entry = try? json.decode(as: TimelineEntry.self) else { return incomplete(type, TimelineEntry.self, json) }
                try entry.validate()
            case .checkIn:
                guard let checkIn = try? json.decode(as: CheckIn.self) else { return incomplete(type, CheckIn.self, json) }
                try checkIn.validate()
                if checkIn.village != change.scope {
                    return Rejection(.invalidValue, "A check-in's scope must be its village \(checkIn.village), not \(change.scope).", field: "scope")
                }
            case .attachment:
                guard let metadata = try? json.decode(as: AttachmentMetadata.self) else { return incomplete(type, AttachmentMetadata.self, json) }
                try metadata.validate()
            case .correction:
                return checkCorrection(object: object, change: change, context: context)
            case .verificationTask, .fieldChief, .division, .receipt, .enrolment:
                break
            }
        } catch {
            return Rejection(error, fieldPrefix: "ops")
        }
        return nil
    }

    /// A correction request names a parcel and proposes valid values for its reference fields only.
    static func checkCorrection(object: [String: JSONValue], change: Change, context: AdmissionContext) -> Rejection? {
        guard object["parcelID"]?.stringValue != nil else {
            return Rejection(.missingField, "A correction request names the parcel it corrects (parcelID).", field: "ops.parcelID")
        }
        guard let proposed = object["proposed"]?.objectValue, !proposed.isEmpty else {
            return Rejection(.missingField, "A correction request proposes at least one value (proposed).", field: "ops.proposed")
        }
        guard object["reason"]?.stringValue?.isEmpty == false else {
            return Rejection(.missingField, "A correction request says why (reason).", field: "ops.reason")
        }
        for field in proposed.keys.sorted() {
            guard RuleBook.parcelReferenceFields.contains(field), field != "village" else {
                return Rejection(.invalidValue, "\(field) is not parcel reference data a correction can change (\(RuleBook.parcelReferenceFields.subtracting(["village"]).sorted().joined(separator: ", "))).", field: "ops.proposed.\(field)")
            }
            if let rejection = checkValue(type: .parcel, field: field, operation: .set(proposed[field]!), change: change, context: context, precheckKey: "proposed.\(field)") {
                return Rejection(rejection.code, rejection.message, field: rejection.field.map { $0.replacingOccurrences(of: "ops.", with: "ops.proposed.") })
            }
        }
        return nil
    }

    static func checkCaseCreation(object: [String: JSONValue], change: Change) -> Rejection? {
        var flattened = object
        for field in ["assignees", "parcelIDs"] where flattened[field] == nil { flattened[field] = .array([]) }
        if let status = object["status"], let workflow = WorkflowValue(status) {
            flattened["status"] = .string(workflow.status.rawValue)
            flattened["round"] = .number(Double(workflow.round))
        }
        guard let record = try? JSONValue.object(flattened).decode(as: EnforcementCase.self) else {
            return incomplete(.enforcementCase, EnforcementCase.self, .object(flattened))
        }
        do throws(ValidationError) { try record.validate() } catch { return Rejection(error, fieldPrefix: "ops") }
        if !record.township.contains(change.scope) {
            return Rejection(.invalidValue, "A case's scope \(change.scope) must lie in its township \(record.township).", field: "scope")
        }
        return nil
    }

    static func incomplete<T: Decodable>(_ type: RecordType, _ swiftType: T.Type, _ json: JSONValue) -> Rejection {
        var detail = "it does not decode"
        do { _ = try json.decode(as: T.self) } catch let DecodingError.keyNotFound(key, _) {
            detail = "field \"\(key.stringValue)\" is missing"
        } catch let DecodingError.typeMismatch(_, context) {
            detail = "field \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type"
        } catch let DecodingError.dataCorrupted(context) {
            detail = "field \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\": \(context.debugDescription)"
        } catch {}
        return Rejection(.missingField, "A new \(type.rawValue) record must be complete: \(detail).", field: "ops")
    }
}
