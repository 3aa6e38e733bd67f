import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangReference
import TianzhangSQLite
import TianzhangSeed
import TianzhangSync

/// `tianzhang seed`: builds a plausible county from real division codes, deterministically.
struct SeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Generate a county (real townships, synthetic villages and parcels) as GeoJSON, and optionally a hub store.")

    @Option(help: "A bundled county code (371312 河东区, 371525 冠县).") var county: String = "371312"
    @Option(help: "A division file (code,name,level,parent_code) for any other county.") var divisions: String?
    @Option(help: "Random seed: the same seed gives the same county.") var seed: UInt64 = 1
    @Option(help: "Parcels per village, as MIN-MAX.") var parcels: String = "10-16"
    @Option(help: "Cover this box with villages: minLon,minLat,maxLon,maxLat.") var box: String?
    @Option(help: "Write the parcels here as a GeoJSON FeatureCollection.") var geojson: String = "parcels.geojson"
    @Option(help: "Also load everything into this hub store (SQLite), through the sync engine.") var hub: String?

    func run() throws {
        let catalog = try ReferenceData.landClasses()
        let divisionList = try divisions.map { try ReferenceData.county(file: $0) } ?? ReferenceData.county(county)
        var configuration = CountyGenerator.Configuration(seed: seed)
        let bounds = parcels.split(separator: "-").compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] >= 1, bounds[0] <= bounds[1] else { throw CLIError("--parcels takes MIN-MAX, e.g. 10-16.") }
        configuration.parcelsPerVillage = bounds[0]...bounds[1]
        if let box {
            let values = box.split(separator: ",").compactMap { Double($0) }
            guard values.count == 4, values[0] < values[2], values[1] < values[3] else { throw CLIError("--box takes minLon,minLat,maxLon,maxLat.") }
            configuration.box = BoundingBox(minLongitude: values[0], minLatitude: values[1], maxLongitude: values[2], maxLatitude: values[3])
        }
        let generated = CountyGenerator(configuration: configuration, landClasses: catalog).generate(divisionList)
        try GeoJSON.featureCollection(parcels: generated.parcels, synthetic: true).write(to: URL(fileURLWithPath: geojson))
        print("\(generated.county.name) \(generated.county.code): \(generated.townships.count) townships (real codes), \(generated.villages.count) villages (synthetic), \(generated.parcels.count) parcels, \(generated.chiefs.count) field chiefs, \(generated.cases.count) open cases")
        print("wrote \(geojson)")
        if let hub {
            let store = try SQLiteReplicaStore(path: hub)
            try recordAtHub(
                store, engine: SyncEngine(configuration: .init(landClasses: catalog)), hub: ReplicaID(kind: .hub, name: generated.county.code.rawValue),
                county: generated.county.code, parcels: generated.parcels, cases: generated.cases, chiefs: generated.chiefs,
                divisions: generated.townships + generated.villages, now: nowMilliseconds())
            try store.save(divisions: [generated.county] + generated.townships + generated.villages)
            print("loaded into \(hub): \(try store.summary().parcels) parcels")
        }
    }
}

/// `tianzhang hub …`: the county hub's commands.
struct HubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hub", abstract: "County hub commands.", subcommands: [Serve.self, Enrol.self, Revoke.self, Digest.self, CopyToPostgres.self, Restore.self, Replicas.self, ImportParcels.self, ImportAlerts.self, EnrolIntake.self, RevokeIntake.self, MoveVillage.self])

    /// `tianzhang hub import-parcels FILE`: loads parcels from GeoJSON, reporting every rejected feature.
    struct ImportParcels: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-parcels",
            abstract: "Import parcels from a GeoJSON FeatureCollection into the hub store.",
            discussion: "Every feature is checked; rejected ones are listed with the reason. The accepted ones are recorded in one transaction: nothing is half-imported.")

        @Argument(help: "A GeoJSON FeatureCollection of Polygon features.") var file: String
        @Option(help: "The hub store (SQLite file).") var store: String = "hub.sqlite"
        @Option(help: "The county the hub serves (default: the county of the first parcel).") var county: String?
        @Flag(help: "Print the report as JSON.") var json = false

        func run() throws {
            let catalog = try ReferenceData.landClasses()
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let report = try GeoJSON.importParcels(data: data, landClasses: catalog)
            guard let countyCode = try county.map({ try DivisionCode($0, level: .county) }) ?? report.accepted.first?.county else {
                throw CLIError("No parcel was accepted and no --county was given; nothing to import.")
            }
            let outside = report.accepted.filter { $0.county != countyCode }
            let accepted = report.accepted.filter { $0.county == countyCode }
            let replica = try SQLiteReplicaStore(path: store)
            let hub = ReplicaID(kind: .hub, name: countyCode.rawValue)
            let existing = Set(try accepted.filter { try replica.parcel($0.id.rawValue) != nil }.map(\.id))
            let fresh = accepted.filter { !existing.contains($0.id) }
            try recordAtHub(replica, engine: SyncEngine(configuration: .init(landClasses: catalog)), hub: hub, county: countyCode, parcels: fresh, now: nowMilliseconds())
            var rejected = report.rejected.map { ($0.index, $0.id, $0.error.code.rawValue, $0.error.field, $0.error.message) }
            for parcel in outside { rejected.append((-1, parcel.id.rawValue, "outside_jurisdiction", "properties.village", "Village \(parcel.village) lies outside county \(countyCode).")) }
            if json {
                let object: [String: Any] = [
                    "imported": fresh.count, "alreadyPresent": existing.count,
                    "rejected": rejected.map { ["index": $0.0, "id": $0.1 ?? NSNull(), "code": $0.2, "field": $0.3 ?? NSNull(), "message": $0.4] as [String: Any] },
                ]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
            } else {
                print("imported \(fresh.count) parcels into \(store)\(existing.isEmpty ? "" : "; \(existing.count) already present, left unchanged")")
                if !rejected.isEmpty {
                    print("rejected \(rejected.count) features:")
                    for item in rejected { print("  feature \(item.0 >= 0 ? String(item.0) : "-") \(item.1 ?? "(no id)"): \(item.2)\(item.3.map { " at \($0)" } ?? ""): \(item.4)") }
                }
            }
        }
    }
}

/// `tianzhang summary --store FILE`: what a store holds.
struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary", abstract: "Show what a replica store holds.")
    @Option(help: "The store (SQLite file).") var store: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard FileManager.default.fileExists(atPath: store) else { throw CLIError("No store at \(store).") }
        let summary = try SQLiteReplicaStore(path: store).summary()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print("parcels \(summary.parcels), cases \(summary.cases) (\(summary.openCases) open), timeline \(summary.timelineEntries), check-ins \(summary.checkIns), tasks \(summary.tasks)")
            print("changes \(summary.changes): \(summary.pendingChanges) waiting to sync, \(summary.rejectedChanges) rejected")
        }
    }
}
