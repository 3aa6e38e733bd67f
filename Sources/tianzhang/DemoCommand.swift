import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangPatrol
import TianzhangReference
import TianzhangSQLite
import TianzhangStore
import TianzhangSeed
import TianzhangSync

/// `tianzhang demo`: the main job on the embedded default, end to end, in one process.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Seed a real county, load a county hub, bootstrap two townships, edit offline on every side, sync, and resolve the conflicts.")

    @Option(help: "County code (371312 河东区 or 371525 冠县).") var county = "371312"
    @Option(help: "Folder for the stores (default: a new temporary folder).") var dir: String?
    @Option(help: "Generator seed.") var seed: UInt64 = 1

    func run() async throws {
        let folder = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-demo-\(ProcessInfo.processInfo.processIdentifier)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var clock = nowMilliseconds()
        func tick() -> Int64 { clock += 1_000; return clock }
        let catalog = try ReferenceData.landClasses()
        let engine = SyncEngine(configuration: .init(landClasses: catalog))

        section("1. Seed county \(county) from the real division list")
        let divisions = try ReferenceData.county(county)
        let generated = CountyGenerator(configuration: .init(seed: seed), landClasses: catalog).generate(divisions)
        print("\(generated.county.name): \(generated.townships.count) townships (real codes: \(generated.townships.prefix(3).map { "\($0.code) \($0.name)" }.joined(separator: ", ")) …)")
        print("\(generated.villages.count) villages (synthetic), \(generated.parcels.count) parcels, \(generated.cases.count) open cases")
        let geojsonPath = folder + "/parcels.geojson"
        try GeoJSON.featureCollection(parcels: generated.parcels, synthetic: true).write(to: URL(fileURLWithPath: geojsonPath))

        section("2. The county hub imports the parcels (GeoJSON) and the open cases")
        let hubStore = try SQLiteReplicaStore(path: folder + "/hub.sqlite")
        let hubID = ReplicaID(kind: .hub, name: generated.county.code.rawValue)
        let report = try GeoJSON.importParcels(data: Data(contentsOf: URL(fileURLWithPath: geojsonPath)), landClasses: catalog)
        try recordAtHub(hubStore, engine: engine, hub: hubID, county: generated.county.code, parcels: report.accepted, cases: generated.cases,
                        chiefs: generated.chiefs, divisions: generated.townships + generated.villages, now: tick())
        try hubStore.save(divisions: [generated.county] + generated.townships + generated.villages)
        print("hub.sqlite: \(try hubStore.summary().parcels) parcels, \(try hubStore.summary().cases) cases (\(report.rejected.count) features rejected)")

        section("3. The hub serves protocol v1 over HTTP; two township offices enrol and bootstrap")
        let server = try HubServer(store: hubStore, engine: engine, county: generated.county.code, configuration: .init(host: "127.0.0.1", port: 0))
        let (ports, portsContinuation) = AsyncStream.makeStream(of: Int.self)
        let serverTask = Task { try await server.run { portsContinuation.yield($0) } }
        defer { serverTask.cancel() }
        var port = 0
        for await bound in ports { port = bound; break }
        let hubURL = URL(string: "http://127.0.0.1:\(port)")!
        print("county hub listening on \(hubURL)")
        let townships = Array(generated.townships.prefix(2))
        var nodes: [Node] = []
        for township in townships {
            let store = try SQLiteReplicaStore(path: folder + "/node-\(township.code).sqlite")
            let id = ReplicaID(kind: .node, name: township.code.rawValue)
            let secret = try hubStore.enrol(id, jurisdiction: .township(township.code), now: tick())
            let client = SyncClient(baseURL: hubURL, credential: secret)
            let hello = try await client.hello(HelloRequest(replica: id))
            try store.write { tx in try engine.open(replica: id, jurisdiction: hello.jurisdiction, credential: secret, in: tx) }
            let node = Node(division: township, id: id, store: store, runner: SyncRunner(store: store, engine: engine, client: client, replica: id))
            let report = try await node.runner.sync()
            let summary = try store.summary()
            print("\(township.name) \(township.code): enrolled (credential \(secret.prefix(7))…), \(summary.parcels) parcels, \(summary.cases) cases — \(report.received) changes over HTTP")
            nodes.append(node)
        }

        section("4. Offline edits on every side (no link)")
        let (a, b) = (nodes[0], nodes[1])
        guard let caseA = try a.store.openCases().first, let parcelB = try b.store.parcels(inVillage: generated.villages.first { $0.code.township == b.division.code }!.code).first
        else { throw CLIError("The generated county has no case in \(a.division.name).") }
        let scopeA = caseA.village ?? caseA.township
        func set(_ store: SQLiteReplicaStore, _ type: RecordType, _ id: String, _ scope: DivisionCode, _ author: String, _ fields: [String: FieldOperation]) throws -> Change {
            try store.write { tx in try engine.record(Draft(type: type, id: id, scope: scope, author: author, fields: fields), physicalNow: tick(), in: tx) }
        }
        func status(_ value: CaseStatus) -> FieldOperation { .set(WorkflowValue(status: value, round: caseA.round).json) }
        // The case moves to verification at the township first, and everyone has seen that.
        _ = try set(a.store, .enforcementCase, caseA.id.rawValue, scopeA, "clerk-a", ["status": status(.verifying)])
        _ = try await a.runner.sync()
        print("case \(caseA.id) (\(caseA.summary)) is being verified in \(a.division.name)")
        _ = try set(a.store, .enforcementCase, caseA.id.rawValue, scopeA, "clerk-a", ["status": status(.dismissed), "summary": .set("approved greenhouse, not a violation")])
        print("  \(a.division.name) office: dismisses it (approved use) and edits the summary")
        _ = try set(hubStore, .enforcementCase, caseA.id.rawValue, scopeA, "dispatcher", ["status": status(.confirmed), "summary": .set("house foundation on basic farmland")])
        print("  county dispatcher, from the tower-camera footage: confirms it illegal and edits the summary")
        _ = try set(a.store, .enforcementCase, caseA.id.rawValue, scopeA, "clerk-a", ["assignees": .add(["officer-zhang"])])
        _ = try set(hubStore, .enforcementCase, caseA.id.rawValue, scopeA, "dispatcher", ["assignees": .add(["squad-3"])])
        print("  both assign someone (the office: officer-zhang; the county: squad-3)")
        let noteID = RecordID.generate(at: Timestamp(milliseconds: clock), using: &SystemRNG.shared).rawValue
        _ = try set(a.store, .timelineEntry, noteID, scopeA, "clerk-a", ["caseID": .set(.string(caseA.id.rawValue)), "kind": .set("note"), "text": .set("site visited, owner shows a permit"), "attachmentIDs": .set([]), "author": .set("clerk-a"), "at": .set(.number(Double(clock)))])
        print("  the office adds a timeline note")
        _ = try set(b.store, .parcel, parcelB.id.rawValue, parcelB.village, "clerk-b", ["fieldChief": .set("chief-new"), "note": .set("east ditch blocked")])
        print("  \(b.division.name) office: hands parcel \(parcelB.id) to a new field chief")
        do {
            _ = try set(b.store, .parcel, parcelB.id.rawValue, parcelB.village, "clerk-b", ["areaMu": .set(.number(parcelB.areaMu + 3))])
        } catch let rejection as Rejection {
            print("  \(b.division.name) office tries to change the parcel's area: refused at once — \(rejection.code): \(rejection.message)")
        }
        let correctionID = RecordID.generate(at: Timestamp(milliseconds: clock), using: &SystemRNG.shared).rawValue
        let proposedArea = (parcelB.areaMu * 100 + 300).rounded() / 100
        try b.store.write { tx in
            _ = try engine.requestCorrection(id: correctionID, parcel: parcelB.id.rawValue, scope: parcelB.village, proposed: ["areaMu": .number(proposedArea)],
                                             reason: "re-measured after the ditch was moved", author: "clerk-b", physicalNow: tick(), in: tx)
        }
        print("  so it files a correction request instead: area \(String(format: "%.2f", parcelB.areaMu)) → \(String(format: "%.2f", proposedArea)) mu")
        _ = try set(hubStore, .parcel, parcelB.id.rawValue, parcelB.village, "dispatcher", ["note": .set("re-surveyed 2026")])
        print("  county: re-annotates the same parcel's note")

        section("5. Sync over HTTP: each office pushes its outbox, then pulls")
        for node in nodes {
            let report = try await node.runner.sync()
            print("  \(node.division.name): sent \(report.sent) — accepted \(report.accepted), " + Style.yellow("merged with a conflict \(report.merged)") + ", rejected \(report.rejected.count); received \(report.received)")
            for conflict in report.conflicts { print("    conflict raised: \(conflict)") }
        }
        // A second round carries the hub's receipts and the other office's changes.
        for node in nodes { _ = try await node.runner.sync() }

        section("6. What converged, and which rule decided")
        try printConflicts(hubStore, engine: engine, scope: .county(generated.county.code))
        let merged = try `require`(try hubStore.enforcementCase(caseA.id.rawValue))
        print("case \(caseA.id): status \(merged.status.rawValue), assignees \(merged.assignees.sorted().joined(separator: ", ")), timeline entries \(try hubStore.timeline(ofCase: caseA.id.rawValue).count)")
        try printDigests(hubStore, nodes: nodes, engine: engine)

        section("7. The county resolves the open conflicts; one more sync")
        let open = try hubStore.read { tx in try engine.conflicts(in: .county(generated.county.code), in: tx) }.filter { $0.status == .open }
        for conflict in open {
            let decision: FieldOperation = conflict.field == "status" ? status(.confirmed) : .set(conflict.winner.value)
            try hubStore.write { tx in
                let state = try tx.recordState(conflict.record)!
                _ = try engine.record(Draft(type: conflict.record.type, id: conflict.record.id, scope: state.scope, author: "county-director", fields: [conflict.field: decision]), physicalNow: tick(), in: tx)
            }
            print("  county-director decides \(conflict.record.type.rawValue).\(conflict.field) = \(decision.valueText)")
        }
        try hubStore.write { tx in try engine.decideCorrection(correctionID, accept: true, note: "confirmed on site", author: "county-director", physicalNow: tick(), in: tx) }
        print("  county-director accepts the correction request for parcel \(parcelB.id)")
        for node in nodes { _ = try await node.runner.sync() }
        try printConflicts(hubStore, engine: engine, scope: .county(generated.county.code))
        print("  parcel \(parcelB.id) in \(b.division.name): \(String(format: "%.2f", try b.store.parcel(parcelB.id.rawValue)?.areaMu ?? 0)) mu (the county's accepted correction)")
        try printDigests(hubStore, nodes: nodes, engine: engine)

        try await alertAndPatrol(hub: hubStore, engine: engine, node: a, folder: folder, now: tick)
        print("\nstores are in \(folder) (inspect with: tianzhang summary --store \(folder)/hub.sqlite)")
    }

    func section(_ title: String) { print("\n" + Style.bold(title)) }

    /// Steps 8 and 9: a tower camera's alert becomes a case and four pushed tasks; the village's field
    /// chief, with no signal, checks in and reports with a photo; the township node (offline from the
    /// county meanwhile) relays both, and the photo's bytes, to the hub.
    func alertAndPatrol(hub: SQLiteReplicaStore, engine: SyncEngine, node: Node, folder: String, now: () -> Int64) async throws {
        section("8. A tower camera sees earth-moving: the county dispatches the \"four pushes\"")
        let village = try `require`(try node.store.divisions().first { $0.code.level == .village && node.division.code.contains($0.code) }, "no village")
        let parcel = try `require`(try hub.parcels(inVillage: village.code).first, "no parcel")
        let sighting = Alert(source: .towerCamera, externalID: "tower-07/\(now())", at: Timestamp(milliseconds: now()),
                             geometry: .point(parcel.geometry.interiorPoint), violation: .soilExtraction, note: "塔07: 挖掘机取土 excavator digging")
        let imported = try hub.importAlerts([AlertImportItem(index: 0, externalID: sighting.externalID, alert: .success(sighting))],
                                            villages: try hub.villageAreas(), engine: engine, author: "dispatcher", physicalNow: now())
        let placed = try `require`(imported.placed.first, "the alert was not placed: \(imported.refused)")
        print("alert \(sighting.externalID) placed in \(village.name) \(placed.villages.map(\.rawValue).joined(separator: ", ")) → case \(placed.caseID)")
        for recipient in TaskRecipient.allCases {
            let task = try `require`(try hub.task(SyncEngine.alertTaskID(caseID: placed.caseID, recipient: recipient)))
            print("  task → \(recipient.rawValue.padding(toLength: 19, withPad: " ", startingAt: 0)) \(task.assignee.padding(toLength: 24, withPad: " ", startingAt: 0)) on site by \(PatrolTerminal.time(task.deadlines.onSiteBy)), restore by \(PatrolTerminal.time(task.deadlines.restoreBy)) tomorrow")
        }

        section("9. The field chief's device, through the township node")
        let nodeServer = try ReplicaServer.node(store: node.store, engine: engine, configuration: .init(host: "127.0.0.1", port: 0))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let serverTask = Task { try await nodeServer.run { continuation.yield($0) } }
        defer { serverTask.cancel() }
        var nodePort = 0
        for await bound in ports { nodePort = bound; break }
        let chiefID = "chief-\(village.code.rawValue)"
        let deviceID = ReplicaID(kind: .patrol, name: chiefID)
        let secret = try hub.enrol(deviceID, jurisdiction: .villages([village.code]), now: now())
        _ = try await node.runner.syncInScope()
        print("the county enrols \(deviceID) for \(village.name); \(node.division.name)'s node serves it on http://127.0.0.1:\(nodePort) (its enrolment synced down: hash only)")
        let clock = DemoClock(now())
        let patrol = try PatrolClient(storePath: folder + "/patrol-\(chiefID).sqlite", clock: { clock.now }, location: FixedLocation(parcel.geometry.interiorPoint.fix))
        try await patrol.enrol(upstream: URL(string: "http://127.0.0.1:\(nodePort)")!, credential: secret, replica: deviceID, person: chiefID)
        let first = try await patrol.sync()
        print("device: \(first.received) changes down — \(try patrol.store.parcels(inVillage: village.code).count) parcels of its village, \(try patrol.tasks().count) task: \(try patrol.tasks().first?.countdown ?? "-")")
        print("  (no signal in the field from here on; the township office does not reach the county meanwhile)")
        clock.advance(minutes: 3)
        let checkIn = try await patrol.checkIn(parcel: parcel.id.rawValue, observation: "挖掘机在东侧取土 excavator on the east side")
        print("  check-in at \(parcel.id): \(PatrolTerminal.describe(checkIn.geofence))")
        let photo = URL(fileURLWithPath: folder + "/site-photo.jpg")
        var bytes = Data([0xFF, 0xD8, 0xFF, 0xE0])
        bytes.append(contentsOf: (0..<250_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
        try bytes.write(to: photo)
        let report = try await patrol.report(violation: .soilExtraction, note: "取土约2亩 about 2 mu dug", photos: [photo], parcel: parcel.id.rawValue, areaMu: 2)
        print("  report: case \(report.caseRecord.id) with photo \(report.photos[0].prefix(12))… (kept on the device first); on site by \(PatrolTerminal.time(report.deadlines.onSiteBy))")
        let task = try `require`(try patrol.tasks().first)
        try await patrol.completeTask(task.task.id.rawValue, decision: .confirmed, note: "确认违法 confirmed: soil taken")
        print("  task \(task.task.id.rawValue.suffix(14)) completed: confirmed")
        let pending = try patrol.pending()
        print("  pending on the device: \(pending.notYetSent) records, \(pending.photos) photo")
        let toNode = try await patrol.sync()
        for line in toNode.rejected { print(Style.red("  refused: \(line)")) }
        print("device → node: sent \(toNode.sent), photo uploaded (\(toNode.attachmentBytesSent) bytes, resumable); not yet at the county: \(try patrol.pending().notYetAtCounty)")
        let toHub = try await node.runner.syncInScope()
        print("node → hub: relayed \(toHub.sent) changes and \(toHub.attachmentsUploaded) photo, each keeping its origin")
        let atHub = try `require`(try hub.enforcementCase(report.caseRecord.id.rawValue))
        let origin = try hub.read { tx in try tx.foldableChanges(of: RecordKey(.enforcementCase, atHub.id.rawValue)) }.first?.origin
        let vault = try AttachmentVault(besideStore: hub.path!)
        let keptBytes = vault.has(report.photos[0]) ? try Data(contentsOf: vault.url(of: report.photos[0])) : Data()
        let verified = ContentDigest.sha256(keptBytes) == report.photos[0]
        let checkInAtHub = try hub.checkIn(checkIn.id.rawValue) != nil
        let taskAtHub = try hub.task(task.task.id.rawValue)?.status.rawValue ?? "?"
        print("at the hub: case \(atHub.id) (\(atHub.source.rawValue), origin \(origin?.rawValue ?? "?")), photo " + (verified ? Style.green("verified") : Style.red("MISSING"))
              + ", check-in " + (checkInAtHub ? Style.green("present") : Style.red("MISSING")) + ", task \(taskAtHub)")
        _ = try await patrol.sync()
        let left = try patrol.pending()
        print("device, next sync: \(left.items.isEmpty ? Style.green("everything confirmed at the county") : Style.red("\(left.items.count) still waiting"))")
    }

    func printConflicts(_ hub: SQLiteReplicaStore, engine: SyncEngine, scope: Jurisdiction) throws {
        let conflicts = try hub.read { tx in try engine.conflicts(in: scope, in: tx) }
        if conflicts.isEmpty { print("no conflicts") }
        for conflict in conflicts {
            let rule = switch conflict.kind {
            case .incompatibleDecisions: "rule W2 (incompatible decisions): the confirmed line stays the provisional winner; the county decides"
            case .concurrentWrites: "rule L1 (last writer wins by hybrid clock): the later write shows; recorded for review"
            case .divergentImmutable: "rule I1 (immutable): the first write stands"
            }
            let state = conflict.status == .open ? Style.yellow("OPEN") : Style.green("RESOLVED")
            print("  \(state) \(conflict.record.type.rawValue)/\(conflict.record.id).\(conflict.field): \(conflict.status == .open ? "showing" : "decided") \(conflict.winner.value.canonicalText) by \(conflict.winner.author) — \(rule)")
        }
        print("  other rules at work: grow-only set (S1) kept both assignments; timeline notes are append-only (I1); the parcel's area is hub-owned (H3): the office's edit was refused locally and travels as a correction request instead")
    }

    struct Node {
        var division: Division
        var id: ReplicaID
        var store: SQLiteReplicaStore
        var runner: SyncRunner
    }

    func printDigests(_ hub: SQLiteReplicaStore, nodes: [Node], engine: SyncEngine) throws {
        for node in nodes {
            let scope = Jurisdiction.township(node.division.code)
            let mine = try node.store.read { try engine.digest(of: scope, in: $0) }
            let theirs = try hub.read { try engine.digest(of: scope, in: $0) }
            let verdict = mine == theirs ? Style.green("converged") : Style.red("DIFFERENT")
            print("  \(node.division.name): digest \(mine.prefix(16)) hub \(theirs.prefix(16)) \(verdict); outbox \(try node.store.summary().pendingChanges)")
        }
    }
}

extension FieldOperation {
    var valueText: String {
        switch self {
        case .set(let value): value.canonicalText
        case .add(let values): "+" + JSONValue.array(values).canonicalText
        }
    }
}

/// `#require` outside tests.
func `require`<T>(_ value: T?, _ message: String = "missing value") throws -> T {
    guard let value else { throw CLIError(message) }
    return value
}

/// The demo's device clock (moved by hand so the countdowns move).
final class DemoClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ value: Int64) { self.value = value }
    var now: Int64 { lock.withLock { value } }
    func advance(minutes: Int64) { lock.withLock { value += minutes * 60_000 } }
}

extension Coordinate {
    /// A GPS fix at this point (5 m accuracy).
    var fix: LocationFix { LocationFix(position: self, accuracyMetres: 5) }
}

/// The system's random source for record ids made at the edge.
enum SystemRNG {
    nonisolated(unsafe) static var shared = SystemRandomNumberGenerator()
}
