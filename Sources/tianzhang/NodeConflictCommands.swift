import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync

// MARK: - node conflicts [resolve]

extension NodeCommand {
    /// `tianzhang node conflicts`: the conflicts on this township's records, and resolving them.
    struct ConflictsCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "conflicts", abstract: "List the township's conflicts, or resolve one.",
                                                        subcommands: [List.self, Resolve.self], defaultSubcommand: List.self)

        /// One competing write, as a clerk reads it.
        struct Write: Encodable {
            var change: String; var value: JSONValue?; var author: String; var at: Timestamp
        }

        /// A conflict as `--json` prints it: the protocol's one shape (CONFLICTS.md, `$defs/conflict`: what a
        /// push answer carries), and `otherWrites`, each of `others` looked up in the local log for people.
        struct Row: Encodable {
            var conflict: Conflict
            /// The provisional winner (open) or the resolving write (resolved).
            var winner: Write
            /// The writes that lost (open) or that the resolution replaced (resolved).
            var others: [Write]

            private enum Key: String, CodingKey { case otherWrites }

            func encode(to encoder: any Encoder) throws {
                try conflict.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(others, forKey: .otherWrites)
            }
        }

        /// Every conflict in the node's jurisdiction, open first, with each competing write's value, author and time.
        static func rows(_ store: SQLiteReplicaStore, _ meta: ReplicaMeta, _ engine: SyncEngine) throws -> [Row] {
            try store.read { tx in
                try engine.conflicts(in: meta.jurisdiction, in: tx).map { conflict in
                    func write(_ id: ChangeID) throws -> Write {
                        guard let change = try tx.logEntry(id)?.change else { return Write(change: id.description, value: nil, author: "?", at: Timestamp(milliseconds: 0)) }
                        let value: JSONValue? = switch change.fields[conflict.field] {
                        case .set(let value): value
                        case .add(let values): .array(values)
                        case nil: nil
                        }
                        return Write(change: id.description, value: value, author: change.author, at: Timestamp(milliseconds: change.hlc.wall))
                    }
                    let winner = Write(change: conflict.winner.id.description, value: conflict.winner.value, author: conflict.winner.author, at: Timestamp(milliseconds: conflict.winner.hlc.wall))
                    return Row(conflict: conflict, winner: winner, others: try conflict.others.map(write))
                }
            }
        }

        /// `tianzhang node conflicts [list]`.
        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "Open and resolved conflicts in the township.")
            @OptionGroup var options: Options
            @Flag(help: "Print JSON.") var json = false

            func run() async throws {
                let (store, meta, engine) = try NodeCommand.open(options)
                let rows = try ConflictsCommand.rows(store, meta, engine)
                if json { return try NodeCommand.printJSON(rows) }
                if rows.isEmpty { print("no conflicts in \(Wire.describe(meta.jurisdiction))"); return }
                for row in rows {
                    let conflict = row.conflict, open = conflict.status == .open
                    print("\(open ? Style.yellow("OPEN") : Style.green("RESOLVED")) \(conflict.id): \(conflict.kind.rawValue), rule \(conflict.rule.rawValue) — \(NodeSyncSession.ruleSentence(conflict.rule.rawValue)); resolvable by \(conflict.resolvableBy.map(\.rawValue).joined(separator: ", "))")
                    print("  \(open ? "provisional winner" : "resolved with"): \(Self.describe(row.winner))")
                    for other in row.others { print("  \(open ? "competing" : "replaced"):          \(Self.describe(other))") }
                }
                let open = rows.filter { $0.conflict.status == .open }.count
                print("\(open) open, \(rows.count - open) resolved")
            }

            static func describe(_ write: Write) -> String {
                "\(write.value?.canonicalText ?? "(unknown)") by \(write.author) at \(NodeCommand.chinaTime(write.at)) (\(write.change))"
            }
        }

        /// `tianzhang node conflicts resolve ID (--take-winner | --value JSON)`.
        struct Resolve: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "resolve", abstract: "Resolve an open conflict with a write that builds on every competing one.")
            @OptionGroup var options: Options
            @Argument(help: "The conflict id, <type>/<record>/<field>.") var conflictID: String
            @Flag(help: "Confirm the provisional winner's value.") var takeWinner = false
            @Option(help: "The value to decide on, as JSON (e.g. '\"a summary\"' or 12.5).") var value: String?
            @Option(help: "Who decides.") var author = "clerk"

            /// - Throws: `NodeError` (`invalid_arguments`, `unknown_conflict`, `already_resolved`,
            ///   `not_authorized` for a decision that is the county's, `not_resolvable`, `malformed_json`);
            ///   `Rejection` when the value is invalid for the field.
            func run() async throws {
                guard takeWinner != (value != nil) else { throw NodeError("invalid_arguments", "Give exactly one of --take-winner or --value JSON.") }
                let (store, meta, engine) = try NodeCommand.open(options)
                let conflicts = try store.read { try engine.conflicts(in: meta.jurisdiction, in: $0) }
                guard let conflict = conflicts.first(where: { $0.id == conflictID }) else {
                    throw NodeError("unknown_conflict", "No conflict \(conflictID) in \(Wire.describe(meta.jurisdiction)); list them with `tianzhang node conflicts`.")
                }
                guard conflict.status == .open else {
                    throw NodeError("already_resolved", "Conflict \(conflictID) is already resolved (by \(conflict.winner.author), change \(conflict.winner.id)).")
                }
                guard conflict.resolvableBy.contains(meta.replica.role) else {
                    let what = conflict.rule == .workflow ? "a decision conflict on a case's status (\(conflict.kind.rawValue))" : "a conflict on county reference data"
                    throw NodeError("not_authorized", "Conflict \(conflictID) is \(what): the county decides it, not a township office. Until then the provisional winner (\(conflict.winner.value.canonicalText)) stands.")
                }
                guard conflict.rule != .immutable else {
                    throw NodeError("not_resolvable", "Conflict \(conflictID) is on an immutable record: the first write stands; record a new entry instead.")
                }
                let decided: JSONValue
                if let value {
                    do { decided = try JSONDecoder().decode(JSONValue.self, from: Data(value.utf8)) } catch {
                        throw NodeError("malformed_json", "--value \(value) is not JSON (a text needs quotes: '\"text\"').")
                    }
                } else { decided = conflict.winner.value }
                let state = try store.read { try $0.recordState(conflict.record) }
                guard let scope = state?.scope else { throw NodeError("unknown_conflict", "Record \(conflict.record) is not in this store.") }
                let change = try NodeCommand.record(store, engine, [
                    Draft(type: conflict.record.type, id: conflict.record.id, scope: scope, author: author, fields: [conflict.field: .set(decided)]),
                ], now: nowMilliseconds())[0]
                let after = try store.read { try engine.conflicts(in: meta.jurisdiction, in: $0) }.first { $0.id == conflictID }
                print("resolved \(conflictID) = \(decided.canonicalText) (change \(change.id) builds on \(change.base.map(\.description).joined(separator: ", ")); \(after?.status.rawValue ?? "gone") here, waiting to sync)")
            }
        }
    }
}

// MARK: - node rejected [amend]

extension NodeCommand {
    /// `tianzhang node rejected`: this node's changes a receiver refused, and amending them.
    struct RejectedCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rejected", abstract: "List this node's rejected changes, or amend one.",
                                                        subcommands: [List.self, Amend.self], defaultSubcommand: List.self)

        struct Row: Encodable {
            var change: String; var record: String; var scope: String; var code: String; var message: String; var field: String?
            var fields: [String: FieldOperation]; var amended: Bool; var amendedBy: String?
        }

        /// `tianzhang node rejected [list]`.
        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "This node's rejected changes with the reason, and whether amended.")
            @OptionGroup var options: Options
            @Flag(help: "Print JSON.") var json = false

            func run() async throws {
                let (store, meta, _) = try NodeCommand.open(options)
                let entries = try store.read { try $0.entries(delivery: .rejected) }.filter { $0.change.origin == meta.replica }
                let rows = entries.map { entry in
                    Row(change: entry.change.id.description, record: "\(entry.change.recordTypeName)/\(entry.change.recordID)", scope: entry.change.scope.rawValue,
                        code: entry.rejection?.code.rawValue ?? "invalid_value", message: entry.rejection?.message ?? "", field: entry.rejection?.field,
                        fields: entry.change.fields, amended: entry.amendedBy != nil, amendedBy: entry.amendedBy?.description)
                }
                if json { return try NodeCommand.printJSON(rows) }
                if rows.isEmpty { print("no rejected changes"); return }
                for row in rows {
                    let state = row.amended ? Style.green("amended by \(row.amendedBy!)") : Style.yellow("to amend")
                    print("\(row.change) \(row.record) in \(row.scope): \(Style.red(row.code))\(row.field.map { " at \($0)" } ?? "") — \(row.message) [\(state)]")
                    print("  fields: \(row.fields.keys.sorted().map { "\($0) \(row.fields[$0]!.valueText)" }.joined(separator: ", "))")
                }
                print("\(rows.filter { !$0.amended }.count) to amend (tianzhang node rejected amend CHANGE_ID --set field=JSON [--scope CODE])")
            }
        }

        /// `tianzhang node rejected amend CHANGE_ID --set field=JSON … [--scope CODE]`.
        struct Amend: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "amend", abstract: "Re-send a rejected change as a new change with corrected fields or scope.")
            @OptionGroup var options: Options
            @Argument(help: "The rejected change, <origin>/<seq>.") var changeID: String
            @Option(name: .customLong("set"), help: "field=JSON, replacing that field's value (repeatable).") var sets: [String] = []
            @Option(help: "A new scope (division code) for the record.") var scope: String?

            /// - Throws: `NodeError` (`invalid_change_id`, `unknown_change`, `malformed_json`);
            ///   `ProtocolError` (`not_amendable`); `Rejection` when the amended change would be refused too.
            func run() async throws {
                let (store, _, engine) = try NodeCommand.open(options)
                guard let id = ChangeID(changeID) else { throw NodeError("invalid_change_id", "\(changeID) is not a change id (<origin>/<seq>, e.g. node:371312001/7).") }
                guard let entry = try store.read({ try $0.logEntry(id) }) else { throw NodeError("unknown_change", "No change \(changeID) in this node's log; list rejected ones with `tianzhang node rejected`.") }
                var fields = entry.change.fields
                for assignment in sets {
                    guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                        throw NodeError("malformed_json", "--set \(assignment): write field=JSON, e.g. summary='\"text\"'.")
                    }
                    let field = String(assignment[..<equals])
                    let text = String(assignment[assignment.index(after: equals)...])
                    let value: JSONValue
                    do { value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) } catch {
                        throw NodeError("malformed_json", "--set \(field)=\(text): the value is not JSON (a text needs quotes: \(field)='\"\(text)\"').")
                    }
                    let rule = entry.change.recordType.map { RuleBook.rule(for: $0, field: field) }
                    fields[field] = rule == .growOnlySet ? .add(value.arrayValue ?? [value]) : .set(value)
                }
                let newScope = try scope.map { try DivisionCode($0, field: "scope") }
                let amended = try store.write { tx in try engine.amend(id, fields: fields, scope: newScope, physicalNow: nowMilliseconds(), in: tx) }
                print("amended \(changeID) as \(amended.id) (\(amended.recordTypeName)/\(amended.recordID) in \(amended.scope)), waiting to sync")
            }
        }
    }
}
