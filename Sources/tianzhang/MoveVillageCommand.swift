import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync

extension HubCommand {
    /// `tianzhang hub move-village VILLAGE --to TOWNSHIP`: a village now belongs to another township.
    struct MoveVillage: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "move-village", abstract: "Move a village to another township: re-bind live credentials and update its division record.",
            discussion: """
                The village keeps its code and its records keep their scope. On its next sync each township node \
                learns its new jurisdiction from hello: the old one removes the village's records, the new one pulls them.
                """)
        @Argument(help: "The village code (12 digits).") var village: String
        @Option(help: "The township it now belongs to (9 digits).") var to: String
        @Option(help: "The hub store (SQLite file).") var store = "hub.sqlite"
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let village = try DivisionCode(village, level: .village, field: "village")
            let township = try DivisionCode(to, level: .township, field: "to")
            let move = try SQLiteReplicaStore(path: store).moveVillage(village, to: township, engine: SyncEngine(), now: nowMilliseconds())
            if json { print(String(decoding: try Wire.encoder.encode(move), as: UTF8.self)) } else {
                print("village \(move.village) moved from \(move.from) to \(move.to); re-bound \(move.rebound.isEmpty ? "no credential" : move.rebound.joined(separator: ", "))"
                      + (move.divisionUpdated ? "; division record updated" : "; no division record to update"))
            }
        }
    }
}
