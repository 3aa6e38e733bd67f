import ArgumentParser
import Foundation
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync

extension NodeCommand {
    /// This node's own refused changes that are not amended yet: they are out of the merged state (the
    /// county refused them), but stay in the clerk's view until amended (`node status`, `node cases`).
    static func refusedUnamended(_ store: SQLiteReplicaStore) throws -> [LogEntry] {
        try store.read { tx in
            guard let meta = try tx.meta() else { return [] }
            return try tx.entries(delivery: .rejected).filter { $0.change.origin == meta.replica && $0.amendedBy == nil }
        }
    }

    /// `tianzhang node restored`: the operator restored this node's store from a backup (docs/operations.md).
    struct Restored: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restored", abstract: "Mark this node's store as restored from a backup: a new incarnation; the next sync recovers what the copy lacks.")
        @OptionGroup var options: Options

        func run() async throws {
            let (store, meta, engine) = try NodeCommand.open(options)
            let incarnation = try store.write { tx in
                let incarnation = try engine.markRestored(in: tx)
                try tx.saveCheckpoint(peer: "hub", cursor: 0)
                return incarnation
            }
            try store.setSetting("recover.own", "1")
            print("\(meta.replica): store marked restored (incarnation \(incarnation)); the next `tianzhang node sync` skips used sequence numbers, "
                + "sends again what the county lacks and pulls everything again, this node's own changes included")
        }
    }
}

extension HubCommand {
    /// `tianzhang hub restore --from BACKUP --store hub.sqlite`: restores the hub's SQLite store from a backup.
    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore", abstract: "Restore the hub's store from a backup copy (the hub must be stopped); nodes then re-send and re-pull what it lacks.")
        @Option(help: "The backup (a SQLite file copied or backed up from the hub's store).") var from: String
        @Option(help: "The hub store to replace (SQLite file).") var store = "hub.sqlite"

        func run() throws {
            let incarnation = try SQLiteReplicaStore.restore(from: from, to: store)
            let meta = try SQLiteReplicaStore(path: store).read { try $0.meta() }
            let head = try SQLiteReplicaStore(path: store).read { try $0.logHead() } ?? 0
            print("\(meta?.replica.rawValue ?? "hub"): restored from \(from) up to log seq \(head); new incarnation \(incarnation). "
                + "Start `tianzhang hub serve`; each node re-sends on its next sync what the copy lacks and pulls again from the start.")
        }
    }

    /// `tianzhang hub replicas`: each replica as last seen at `hello`: its clock skew and store incarnation.
    struct Replicas: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "replicas", abstract: "Each replica's clock skew and store incarnation, as last seen at hello.")
        @Option(help: "The hub store (SQLite file).") var store = "hub.sqlite"
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let sightings = try SQLiteReplicaStore(path: store).sightings()
            if json { return print(String(decoding: try JSONEncoder().encode(sightings), as: UTF8.self)) }
            if sightings.isEmpty { return print("no replica has said hello yet") }
            for sighting in sightings {
                print("\(sighting.replica): clock \(ReplicaSighting.describe(sighting.skewMilliseconds)) at \(NodeCommand.chinaTime(.init(milliseconds: sighting.at))); incarnation \(sighting.incarnation ?? "-")")
            }
        }
    }
}
