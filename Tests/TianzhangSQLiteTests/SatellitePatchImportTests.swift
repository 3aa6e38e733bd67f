import Foundation
import Testing
import TianzhangDomain
import TianzhangReference
import TianzhangSeed
import TianzhangSync
@testable import TianzhangSQLite

/// The real sample of satellite change-detection patches near Ningbo, read from the shared folder
/// (never copied into the project).
enum RealPatches {
    static let name = "zhejiang_51RUM_disturbance_patches.geojson"

    static let url: URL? = {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let candidates = [
            root.deletingLastPathComponent().appendingPathComponent("shared/data/reference/\(name)"),
            URL(fileURLWithPath: "/work/shared/data/reference/\(name)"),
        ]
        let found = candidates.first { FileManager.default.fileExists(atPath: $0.path) }
        if found == nil { print("skipped: the satellite patch file is absent (looked in \(candidates.map(\.path).joined(separator: ", ")))") }
        return found
    }()
}

/// Records a generated county's divisions (with their boundaries) and field chiefs at a hub.
func recordCountyAtHub(_ county: GeneratedCounty, store: SQLiteReplicaStore, engine: SyncEngine, now: Int64) throws {
    let hub = ReplicaID(kind: .hub, name: county.county.code.rawValue)
    func fields(_ value: some Encodable) -> [String: FieldOperation] {
        var result: [String: FieldOperation] = [:]
        for (key, value) in JSONValue(encoding: value).objectValue ?? [:] where key != "id" { result[key] = .set(value) }
        return result
    }
    try store.write { tx in
        try engine.open(replica: hub, jurisdiction: .county(county.county.code), in: tx)
        for division in county.townships + county.villages {
            try engine.record(Draft(type: .division, id: division.code.rawValue, scope: division.code, author: "dispatcher", fields: fields(division)), physicalNow: now, in: tx)
        }
        for chief in county.chiefs {
            try engine.record(Draft(type: .fieldChief, id: chief.id, scope: chief.division, author: "dispatcher", fields: fields(chief)), physicalNow: now, in: tx)
        }
    }
}

@Suite("Satellite patches as alerts")
struct SatellitePatchImportTests {
    let now: Int64 = 1_763_884_800_000

    @Test("all 2,657 real patches: each placed in the villages it overlaps or reported with its reason; 4 tasks with the three-ones clocks per case; a re-import adds nothing",
          .enabled(if: RealPatches.url != nil, "the satellite patch file is absent from ../shared/data/reference"))
    func realPatches() throws {
        let data = try Data(contentsOf: try #require(RealPatches.url))
        let parsed = try SatellitePatches.alerts(data: data)
        #expect(parsed.count == 2657)
        // The patches' bounding box, less a margin, is the county: the patches near its edge fall outside.
        var box = BoundingBox(minLongitude: 180, minLatitude: 90, maxLongitude: -180, maxLatitude: -90)
        for case .success(let alert) in parsed.map(\.alert) {
            guard case .polygons(let parts) = alert.geometry else { continue }
            for part in parts {
                let b = part.boundingBox
                box = BoundingBox(
                    minLongitude: min(box.minLongitude, b.minLongitude), minLatitude: min(box.minLatitude, b.minLatitude),
                    maxLongitude: max(box.maxLongitude, b.maxLongitude), maxLatitude: max(box.maxLatitude, b.maxLatitude))
            }
        }
        let margin = 0.05
        box = BoundingBox(minLongitude: box.minLongitude + margin, minLatitude: box.minLatitude + margin, maxLongitude: box.maxLongitude - margin, maxLatitude: box.maxLatitude - margin)
        let generator = CountyGenerator(
            configuration: .init(seed: 4, parcelsPerVillage: 0...0, casesPerTownship: 0, box: box), landClasses: try ReferenceData.landClasses())
        let county = generator.generate(try ReferenceData.county("371312"))
        let store = try SQLiteReplicaStore(path: try temporaryPath("hub.sqlite"))
        let engine = SyncEngine()
        try recordCountyAtHub(county, store: store, engine: engine, now: now)
        let villages = try store.villageAreas()
        #expect(villages.count == county.villages.count, "every generated village has its boundary at the hub")
        #expect(villages.allSatisfy { $0.fieldChief == "chief-\($0.code.rawValue)" })

        let items = parsed.map { AlertImportItem(index: $0.index, externalID: $0.externalID, alert: $0.alert) }
        let report = try store.importAlerts(items, villages: villages, engine: engine, author: "dispatcher", physicalNow: now)

        // Counts add up: every feature is placed or refused, exactly once.
        #expect(report.features == 2657)
        #expect(report.placed.count + report.refused.count == 2657)
        #expect(Set(report.placed.map(\.index)).union(report.refused.map(\.index)) == Set(0..<2657))
        #expect(report.created == report.placed.count && report.alreadyPresent == 0)
        #expect(report.placedByTownship.values.reduce(0, +) == report.placed.count)
        #expect(Set(report.refused.map(\.code)).isSubset(of: ["outside_county", "invalid_geometry", "not_a_polygon", "missing_field"]))
        let outside = report.refused.filter { $0.code == "outside_county" }
        #expect(!outside.isEmpty, "the margin leaves patches outside the county")
        #expect(report.placed.count > report.features / 2, "most patches lie in the county")
        #expect(report.refused.contains { $0.code == "invalid_geometry" }, "the real file holds rings that touch themselves")
        print("real patches: \(report.placed.count) placed in \(report.placedByTownship.count) townships; refused: \(Dictionary(grouping: report.refused, by: \.code).mapValues(\.count))")

        // Each placement checked against every village boundary independently of the placer.
        let alerts = Dictionary(uniqueKeysWithValues: parsed.compactMap { item -> (Int, Alert)? in
            if case .success(let alert) = item.alert { return (item.index, alert) } else { return nil }
        })
        func overlapped(_ alert: Alert) -> Set<DivisionCode> {
            guard case .polygons(let parts) = alert.geometry else { return [] }
            return Set(villages.filter { village in parts.contains { $0.overlaps(village.boundary) } }.map(\.code))
        }
        for placed in report.placed {
            let alert = try #require(alerts[placed.index])
            #expect(Set(placed.villages) == overlapped(alert), "feature \(placed.index)")
            #expect(placed.township == placed.villages[0].township)
        }
        for refused in outside {
            let alert = try #require(alerts[refused.index])
            #expect(overlapped(alert).isEmpty, "feature \(refused.index) is reported outside yet overlaps a village")
        }
        for refused in report.refused where refused.code == "invalid_geometry" {
            guard case .polygons(let parts)? = alerts[refused.index]?.geometry else { Issue.record("feature \(refused.index)"); continue }
            #expect(parts.contains { (try? $0.validate()) == nil }, "feature \(refused.index) is valid yet refused")
        }

        // A case per placed patch, four tasks each, addressed to the right people, clocks from discovery.
        let summary = try store.summary()
        #expect(summary.cases == report.placed.count)
        #expect(summary.tasks == 4 * report.placed.count)
        for placed in report.placed {
            let alert = try #require(alerts[placed.index])
            let record = try #require(try store.enforcementCase(placed.caseID))
            #expect(record.source == .satellite && record.status == .reported && record.discoveredAt == alert.at)
            #expect(record.village == placed.villages[0] && record.township == placed.township)
            let main = try #require(record.village)
            for recipient in TaskRecipient.allCases {
                let task = try #require(try store.task(SyncEngine.alertTaskID(caseID: placed.caseID, recipient: recipient)))
                #expect(task.caseID.rawValue == placed.caseID && task.recipient == recipient && task.status == .open)
                #expect(task.deadlines.reportBy == alert.at.adding(hours: 1))
                #expect(task.deadlines.onSiteBy == alert.at.adding(hours: 1))
                #expect(task.deadlines.restoreBy == alert.at.adding(hours: 24))
                if recipient == .fieldChief { #expect(task.assignee == "chief-\(main.rawValue)") }
            }
        }

        // Re-importing adds nothing.
        let changes = summary.changes
        let again = try store.importAlerts(items, villages: villages, engine: engine, author: "dispatcher", physicalNow: now + 60_000)
        #expect(again.created == 0 && again.alreadyPresent == report.placed.count)
        #expect(again.refused.count == report.refused.count)
        #expect(try store.summary().changes == changes)
        #expect(Set(again.placed.map(\.caseID)) == Set(report.placed.map(\.caseID)))
    }
}
