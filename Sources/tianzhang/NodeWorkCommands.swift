import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync

/// A refused node command: a stable code (the protocol's own where one applies, `Protocol/errors.md`)
/// and a sentence the clerk can act on. Printed as `Error: <code>: <message>`, exit status 1.
struct NodeError: Error, CustomStringConvertible {
    var code: String
    var message: String
    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
    var description: String { "\(code): \(message)" }

    static func unknownCase(_ id: String) -> NodeError {
        NodeError("unknown_case", "No case \(id) in this node's store; list them with `tianzhang node cases`.")
    }
}

extension NodeCommand {
    /// The office clerk's commands, kept out of ServeCommands.swift: offline case work, conflicts, rejections.
    static var workCommands: [any ParsableCommand.Type] {
        [CaseCommand.self, Cases.self, Assign.self, Evidence.self, ConflictsCommand.self, RejectedCommand.self]
    }

    /// Records one local edit in its own transaction.
    /// - Throws: `Rejection` (with its protocol code) when any receiver would refuse it.
    static func record(_ store: SQLiteReplicaStore, _ engine: SyncEngine, _ drafts: [Draft], now: Int64) throws -> [Change] {
        try store.write { tx in try drafts.map { try engine.record($0, physicalNow: now, in: tx) } }
    }

    /// A case of this node's store.
    /// - Throws: `NodeError` (`unknown_case`).
    static func existingCase(_ store: SQLiteReplicaStore, _ id: String) throws -> EnforcementCase {
        guard let record = try store.enforcementCase(id) else { throw NodeError.unknownCase(id) }
        return record
    }

    static func newID(_ now: Int64) -> String { RecordID.generate(at: Timestamp(milliseconds: now), using: &SystemRNG.shared).rawValue }

    /// A timeline entry of a case, as a draft.
    static func timelineDraft(id: String, of record: EnforcementCase, kind: TimelineEntry.Kind, text: String, attachments: [String] = [], author: String, now: Int64) -> Draft {
        Draft(type: .timelineEntry, id: id, scope: record.village ?? record.township, author: author, fields: [
            "caseID": .set(.string(record.id.rawValue)), "kind": .set(.string(kind.rawValue)), "text": .set(.string(text)),
            "attachmentIDs": .set(.array(attachments.map(JSONValue.string))), "author": .set(.string(author)), "at": .set(.number(Double(now))),
        ])
    }

    static func printJSON<T: Encodable>(_ value: T) throws { print(String(decoding: try Wire.encoder.encode(value), as: UTF8.self)) }

    /// "three ones" deadlines in one line, in China time.
    static func deadlinesLine(_ deadlines: ThreeOnesDeadlines) -> String {
        "report by \(chinaTime(deadlines.reportBy)), on site by \(chinaTime(deadlines.onSiteBy)), restore by \(chinaTime(deadlines.restoreBy))"
    }

    /// A time as the office reads it: China Standard Time (UTC+8, no daylight saving), to the minute.
    static func chinaTime(_ time: Timestamp) -> String {
        let shifted = Timestamp(milliseconds: time.milliseconds + 8 * 3_600_000).description  // 2026-11-23T16:15:00.000Z
        return shifted.prefix(10) + " " + shifted.dropFirst(11).prefix(5) + " +08"
    }
}

// MARK: - node case create | edit

extension NodeCommand {
    /// `tianzhang node case …`: create or edit a case offline.
    struct CaseCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "case", abstract: "Create or edit a case (recorded locally, whatever the link).",
                                                        subcommands: [Create.self, Edit.self])

        /// `tianzhang node case create`: a new case with an id generated offline and its "three ones" deadlines.
        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "create", abstract: "Record a new case in a village of this township.")
            @OptionGroup var options: Options
            @Option(help: "The village (12-digit code) of this township.") var village: String
            @Option(help: "The violation type (\(ViolationType.allCases.map(\.rawValue).joined(separator: ", "))).") var violation: String
            @Option(help: "Longitude (WGS 84).") var lon: Double
            @Option(help: "Latitude (WGS 84).") var lat: Double
            @Option(help: "What was seen.") var summary: String
            @Option(help: "Affected area in mu.") var area: Double = 0
            @Option(help: "Where it was found (\(CaseSource.allCases.map(\.rawValue).joined(separator: ", "))).") var source = "patrol"
            @Option(help: "Who records it.") var author = "clerk"
            @Flag(help: "Print JSON.") var json = false

            struct Body: Encodable { var id: String; var change: String; var village: String; var deadlines: ThreeOnesDeadlines; var waitingToSync: Bool }

            /// - Throws: `NodeError` (`unknown_violation_type`, `unknown_source`, `outside_jurisdiction`,
            ///   `unknown_village`); `ValidationError` (`invalid_division_code`, `wrong_division_level`,
            ///   `invalid_geometry`, `invalid_value`); `Rejection` when a receiver would refuse the change.
            func run() async throws {
                let (store, meta, engine) = try NodeCommand.open(options)
                guard let violation = ViolationType(rawValue: violation) else {
                    throw NodeError("unknown_violation_type", "\"\(self.violation)\" is not a violation type; use one of \(ViolationType.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                guard let source = CaseSource(rawValue: source) else {
                    throw NodeError("unknown_source", "\"\(self.source)\" is not a case source; use one of \(CaseSource.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                let code = try DivisionCode(village, level: .village, field: "village")
                guard meta.jurisdiction.covers(code), let township = code.township else {
                    throw NodeError("outside_jurisdiction", "Village \(code) is not in this node's \(Wire.describe(meta.jurisdiction)); a case is recorded by the office of its own township.")
                }
                let villages = try store.divisions().filter { $0.code.level == .village && township.contains($0.code) }
                if !villages.isEmpty && !villages.contains(where: { $0.code == code }) {
                    throw NodeError("unknown_village", "Village \(code) is not a village of township \(township) as the county lists them (\(villages.count) villages, e.g. \(villages.prefix(3).map(\.code.rawValue).joined(separator: ", "))).")
                }
                // Deadlines run from the county's time, whatever this device's clock says (SPEC §2.4).
                let device = nowMilliseconds()
                let now = meta.countyTime(device)
                let id = try RecordID(NodeCommand.newID(now))
                let record = EnforcementCase(
                    id: id, source: source, violation: violation, location: Coordinate(longitude: lon, latitude: lat), township: township, village: code,
                    affectedAreaMu: area, discoveredAt: Timestamp(milliseconds: now), summary: summary)
                try record.validate()
                let change = try NodeCommand.record(store, engine, [
                    Draft(type: .enforcementCase, id: id.rawValue, scope: code, author: author, fields: creationFields(of: record, type: .enforcementCase)),
                ], now: device)[0]
                if json { return try NodeCommand.printJSON(Body(id: id.rawValue, change: change.id.description, village: code.rawValue, deadlines: record.deadlines, waitingToSync: true)) }
                print("case \(id) recorded: \(violation.rawValue) in village \(code), \(area) mu, source \(source.rawValue)")
                print("  three ones: \(NodeCommand.deadlinesLine(record.deadlines))")
                print("  change \(change.id), waiting to sync")
            }
        }

        /// `tianzhang node case edit`: last-writer-wins fields of a case (summary, area, violation).
        struct Edit: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "edit", abstract: "Edit a case's summary, affected area or violation type.")
            @OptionGroup var options: Options
            @Argument(help: "The case id.") var caseID: String
            @Option(help: "A new summary.") var summary: String?
            @Option(help: "A new affected area in mu.") var area: Double?
            @Option(help: "A new violation type.") var violation: String?
            @Option(help: "Who edits.") var author = "clerk"

            /// - Throws: `NodeError` (`unknown_case`, `unknown_violation_type`, `nothing_to_change`); `Rejection`.
            func run() async throws {
                let (store, _, engine) = try NodeCommand.open(options)
                let record = try NodeCommand.existingCase(store, caseID)
                var fields: [String: FieldOperation] = [:]
                if let summary { fields["summary"] = .set(.string(summary)) }
                if let area { fields["affectedAreaMu"] = .set(.number(area)) }
                if let violation {
                    guard ViolationType(rawValue: violation) != nil else {
                        throw NodeError("unknown_violation_type", "\"\(violation)\" is not a violation type; use one of \(ViolationType.allCases.map(\.rawValue).joined(separator: ", ")).")
                    }
                    fields["violation"] = .set(.string(violation))
                }
                guard !fields.isEmpty else { throw NodeError("nothing_to_change", "Give --summary, --area or --violation.") }
                let change = try NodeCommand.record(store, engine, [
                    Draft(type: .enforcementCase, id: caseID, scope: record.village ?? record.township, author: author, fields: fields),
                ], now: nowMilliseconds())[0]
                print("case \(caseID): \(fields.keys.sorted().joined(separator: ", ")) edited (change \(change.id), waiting to sync)")
            }
        }
    }
}

// MARK: - node cases

extension NodeCommand {
    /// `tianzhang node cases`: the township's open cases with their deadlines.
    struct Cases: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cases", abstract: "List the open cases with their \"three ones\" deadlines.")
        @OptionGroup var options: Options
        @Option(help: "Only cases in this status.") var status: String?
        @Flag(help: "Only cases past a \"three ones\" deadline.") var overdue = false
        @Flag(help: "Print JSON.") var json = false

        struct Row: Encodable {
            var id: String; var status: String; var round: Int; var violation: String; var village: String?; var areaMu: Double
            var assignees: [String]; var summary: String; var discoveredAt: Timestamp; var deadlines: ThreeOnesDeadlines; var overdue: [String]
            /// This node's own changes of the case (or of its timeline) the county refused, not amended yet.
            var refused: [String]
        }

        /// - Throws: `NodeError` (`unknown_status`).
        func run() async throws {
            let (store, meta, _) = try NodeCommand.open(options)
            let wanted: CaseStatus?
            if let status {
                guard let parsed = CaseStatus(rawValue: status) else {
                    throw NodeError("unknown_status", "\"\(status)\" is not a case status; use one of \(CaseStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                wanted = parsed
            } else { wanted = nil }
            let now = Timestamp(milliseconds: meta.countyTime(nowMilliseconds()))
            let refused = try NodeCommand.refusedUnamended(store)
            var cases = overdue ? try store.casesPastDeadline(at: now) : try store.openCases(status: wanted)
            if overdue, let wanted { cases = cases.filter { $0.status == wanted } }
            let rows = cases.map { record in
                Row(id: record.id.rawValue, status: record.status.rawValue, round: record.round, violation: record.violation.rawValue, village: record.village?.rawValue,
                    areaMu: record.affectedAreaMu, assignees: record.assignees.sorted(), summary: record.summary, discoveredAt: record.discoveredAt,
                    deadlines: record.deadlines, overdue: record.deadlines.overdue(at: now, status: record.status).map(\.rawValue),
                    refused: refused.filter { NodeCommand.concerns($0.change, case: record.id.rawValue) }.map { "\($0.change.id): \($0.rejection?.code.rawValue ?? "rejected")" })
            }
            if json { return try NodeCommand.printJSON(rows) }
            if rows.isEmpty { print("no cases"); return }
            for row in rows {
                let late = row.overdue.isEmpty ? "" : Style.red(" OVERDUE: \(row.overdue.joined(separator: ", "))")
                print("\(Style.bold(row.id)) \(row.status) (round \(row.round)) \(row.violation) village \(row.village ?? "-") \(row.areaMu) mu\(late)")
                print("  \(row.summary)")
                print("  \(NodeCommand.deadlinesLine(row.deadlines)); assignees: \(row.assignees.isEmpty ? "none" : row.assignees.joined(separator: ", "))")
                if !row.refused.isEmpty { print(Style.yellow("  refused by the county, not amended: \(row.refused.joined(separator: ", "))")) }
            }
            let listed = Set(rows.map(\.id))
            let elsewhere = refused.filter { entry in !listed.contains { NodeCommand.concerns(entry.change, case: $0) } }
            if !elsewhere.isEmpty {
                print(Style.yellow("\(elsewhere.count) of this node's changes were refused by the county and are not amended (tianzhang node rejected):"))
                for entry in elsewhere { print("  \(entry.change.id) \(entry.change.recordTypeName)/\(entry.change.recordID): \(entry.rejection?.code.rawValue ?? "rejected")") }
            }
            print("\(rows.count) case(s)")
        }
    }
}

// MARK: - node assign

extension NodeCommand {
    /// `tianzhang node assign CASE PERSON`: adds a person to the case (a grow-only set: every side's
    /// assignments add up) and notes it on the timeline.
    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "assign", abstract: "Assign a person to a case (recorded locally).")
        @OptionGroup var options: Options
        @Argument(help: "The case id.") var caseID: String
        @Argument(help: "The person id, e.g. officer-zhang.") var person: String
        @Option(help: "Who assigns.") var author = "clerk"

        /// - Throws: `NodeError` (`unknown_case`); `ValidationError` (`invalid_identifier`) for a malformed person id.
        func run() async throws {
            let (store, meta, engine) = try NodeCommand.open(options)
            let record = try NodeCommand.existingCase(store, caseID)
            _ = try RecordID(person, field: "person")
            let device = nowMilliseconds()
            let now = meta.countyTime(device)
            let changes = try NodeCommand.record(store, engine, [
                Draft(type: .enforcementCase, id: caseID, scope: record.village ?? record.township, author: author, fields: ["assignees": .add([.string(person)])]),
                NodeCommand.timelineDraft(id: NodeCommand.newID(now), of: record, kind: .assignment, text: "assigned \(person)", author: author, now: now),
            ], now: device)
            print("case \(caseID): \(person) assigned (changes \(changes.map(\.id.description).joined(separator: ", ")), waiting to sync)")
        }
    }
}

// MARK: - node evidence

extension NodeCommand {
    /// `tianzhang node evidence CASE FILE`: attachment metadata (SHA-256, size, media type) and a timeline
    /// entry of kind evidence referencing it; the bytes are kept next to the store.
    struct Evidence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "evidence", abstract: "Attach a photo or document to a case (metadata recorded locally; bytes kept next to the store).")
        @OptionGroup var options: Options
        @Argument(help: "The case id.") var caseID: String
        @Argument(help: "The file (jpg, jpeg, png, heic, webp, mp4, pdf).") var file: String
        @Option(help: "A note for the timeline entry.") var note: String?
        @Option(help: "Who adds it.") var author = "clerk"
        @Flag(help: "Print JSON.") var json = false

        static let mediaTypes = ["jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "heic": "image/heic", "webp": "image/webp", "mp4": "video/mp4", "pdf": "application/pdf"]

        struct Body: Encodable { var sha256: String; var sizeBytes: Int64; var mediaType: String; var timelineEntry: String; var storedAt: String; var changes: [String]; var uploaded: Bool }

        /// Where a node keeps attachment bytes: `<store>.attachments/<sha256>`.
        static func folder(for store: String) -> URL { URL(fileURLWithPath: store + ".attachments") }

        /// - Throws: `NodeError` (`unknown_case`, `file_not_found`, `unsupported_media_type`);
        ///   `ValidationError` (`invalid_value`) for an empty or too large file.
        func run() async throws {
            let (store, _, engine) = try NodeCommand.open(options)
            let record = try NodeCommand.existingCase(store, caseID)
            let url = URL(fileURLWithPath: file)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw NodeError("file_not_found", "Cannot read \(file).")
            }
            let ext = url.pathExtension.lowercased()
            guard let mediaType = Self.mediaTypes[ext] else {
                throw NodeError("unsupported_media_type", "\(url.lastPathComponent): .\(ext) files are not accepted as evidence; use \(Self.mediaTypes.keys.sorted().joined(separator: ", ")).")
            }
            let now = nowMilliseconds()
            let sha = ContentDigest.sha256(data)
            let metadata = AttachmentMetadata(sha256: sha, sizeBytes: Int64(data.count), mediaType: mediaType, caseID: record.id, createdAt: Timestamp(milliseconds: now), author: author)
            try metadata.validate()
            // The bytes first: a recorded attachment always has its bytes here.
            let folder = Self.folder(for: options.store)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let copy = folder.appendingPathComponent(sha)
            if !FileManager.default.fileExists(atPath: copy.path) { try data.write(to: copy, options: .atomic) }
            let scope = record.village ?? record.township
            var drafts: [Draft] = []
            // The same bytes attached to this case before are one attachment record (its id is per case and
            // digest, so the same photo on a case of another township is a record of its own).
            let attachmentID = AttachmentMetadata.recordID(sha256: sha, caseID: record.id)
            if try store.read({ try $0.recordState(RecordKey(.attachment, attachmentID)) }) == nil {
                drafts.append(Draft(type: .attachment, id: attachmentID, scope: scope, author: author, fields: creationFields(of: metadata, type: .attachment)))
            }
            let entryID = NodeCommand.newID(now)
            drafts.append(NodeCommand.timelineDraft(id: entryID, of: record, kind: .evidence, text: note ?? "evidence: \(url.lastPathComponent)", attachments: [sha], author: author, now: now))
            let changes = try NodeCommand.record(store, engine, drafts, now: now)
            if json {
                return try NodeCommand.printJSON(Body(sha256: sha, sizeBytes: metadata.sizeBytes, mediaType: mediaType, timelineEntry: entryID, storedAt: copy.path,
                                                      changes: changes.map(\.id.description), uploaded: false))
            }
            print("evidence \(sha) (\(data.count) bytes, \(mediaType)) on case \(caseID): timeline entry \(entryID)")
            print("  bytes kept in \(copy.path)")
            print("  the metadata waits to sync (changes \(changes.map(\.id.description).joined(separator: ", "))); uploading the bytes to the county comes in a later version")
        }
    }
}

extension NodeCommand {
    /// Whether a change is of the case `id` or of one of its timeline entries.
    static func concerns(_ change: Change, case id: String) -> Bool {
        if change.recordType == .enforcementCase { return change.recordID == id }
        if case .set(let value) = change.fields["caseID"] { return value.stringValue == id }
        return false
    }
}
