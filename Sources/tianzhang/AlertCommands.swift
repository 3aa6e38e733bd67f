import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangReference
import TianzhangSQLite
import TianzhangSeed
import TianzhangSync

extension HubCommand {
    /// `tianzhang hub import-alerts FILE`: a province's satellite patches become cases and four tasks each.
    struct ImportAlerts: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-alerts",
            abstract: "Import satellite suspect patches (GeoJSON) as alerts: each placed patch becomes a case and four verification tasks.",
            discussion: """
                Each feature is placed in the villages it overlaps (the villages' boundaries come from the seeded divisions), or \
                reported with its reason (outside_county, invalid_geometry, not_a_polygon, missing_field). Everything is written \
                in one transaction: nothing is half-imported. Re-importing the same file adds nothing.
                """)

        @Argument(help: "A GeoJSON FeatureCollection of patches (Polygon or MultiPolygon, CRS84).") var file: String
        @Option(help: "The hub store (SQLite file).") var store: String = "hub.sqlite"
        @Option(help: "The county the hub serves.") var county: String
        @Flag(help: "Print the report as JSON.") var json = false

        func run() throws {
            let countyCode = try DivisionCode(county, level: .county)
            guard FileManager.default.fileExists(atPath: store) else { throw CLIError("No hub store at \(store); seed one with `tianzhang seed --hub \(store)`.") }
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let items = try SatellitePatches.alerts(data: data).map { AlertImportItem(index: $0.index, externalID: $0.externalID, alert: $0.alert) }
            let replica = try SQLiteReplicaStore(path: store)
            let engine = SyncEngine(configuration: .init(landClasses: try ReferenceData.landClasses()))
            try replica.write { tx in _ = try engine.open(replica: ReplicaID(kind: .hub, name: countyCode.rawValue), jurisdiction: .county(countyCode), in: tx) }
            let villages = try replica.villageAreas().filter { countyCode.contains($0.code) }
            guard !villages.isEmpty else {
                throw CLIError("The hub store has no village of \(countyCode) with a boundary; seed the county with `tianzhang seed --hub \(store) --box …` first.")
            }
            let report = try replica.importAlerts(items, villages: villages, engine: engine, author: "dispatcher", physicalNow: nowMilliseconds())
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            print("\(report.features) features: \(report.created) new cases (4 tasks each), \(report.alreadyPresent) already dispatched, \(report.refused.count) refused")
            for (township, count) in report.placedByTownship.sorted(by: { $0.key < $1.key }) { print("  township \(township): \(count) placed") }
            if !report.refused.isEmpty {
                let byCode = Dictionary(grouping: report.refused, by: \.code).mapValues(\.count).sorted { $0.key < $1.key }
                print("refused: " + byCode.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                for item in report.refused {
                    print("  feature \(item.index) \(item.externalID ?? "(no id)"): \(item.code)\(item.field.map { " at \($0)" } ?? ""): \(item.message)")
                }
            }
        }
    }

    /// `tianzhang hub enrol-intake --device NAME`: a credential for a tower camera or drone station.
    struct EnrolIntake: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enrol-intake",
            abstract: "Issue an intake credential (printed once) with which a tower camera or drone station posts alerts to POST /v1/alerts.")
        @Option(help: "The hub store (SQLite file).") var store = "hub.sqlite"
        @Option(help: "The device's name, e.g. tower-07 or drone-station-2.") var device: String

        func run() throws {
            guard !device.isEmpty, device.count <= 64 else { throw CLIError("--device takes a name of 1–64 characters.") }
            print(try SQLiteReplicaStore(path: store).enrolIntake(device: device, now: nowMilliseconds()))
        }
    }

    /// `tianzhang hub revoke-intake --device NAME`: the device can no longer post alerts.
    struct RevokeIntake: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-intake", abstract: "Revoke every intake credential of a device.")
        @Option(help: "The hub store (SQLite file).") var store = "hub.sqlite"
        @Option(help: "The device's name.") var device: String
        func run() throws { print("revoked \(try SQLiteReplicaStore(path: store).revokeIntake(device: device)) intake credential(s)") }
    }
}
