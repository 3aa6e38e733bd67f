import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangPatrol
import TianzhangReference
import TianzhangSQLite
import TianzhangSync

/// `tianzhang patrol …`: the field chief's terminal client. Without a subcommand it opens the
/// interactive screen; the subcommands do the same things for scripts (`--json`).
struct PatrolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patrol", abstract: "The field chief's patrol client (interactive without a subcommand).",
        subcommands: [Screen.self, Init.self, CheckInCommand.self, ReportCommand.self, Tasks.self, Complete.self, Near.self, Pending.self, Sync.self],
        defaultSubcommand: Screen.self)

    struct Options: ParsableArguments {
        @Option(help: "The device's store (SQLite file; photos are kept beside it).") var store = "patrol.sqlite"
        @Option(help: "Position: longitude (else the last one set on this device).") var lon: Double?
        @Option(help: "Position: latitude.") var lat: Double?
        @Option(help: "Position: accuracy in metres.") var accuracy: Double = 5
        @Flag(help: "Print JSON.") var json = false

        func open() throws -> PatrolClient {
            guard FileManager.default.fileExists(atPath: store) else { throw CLIError("No patrol store at \(store); run `tianzhang patrol init` first.") }
            return try PatrolClient(storePath: store, clock: nowMilliseconds, location: NoLocation(), landClasses: try ReferenceData.landClasses())
        }

        /// The position given on the command line, else the last one saved on the device.
        func fix(_ patrol: PatrolClient) throws -> LocationFix? {
            if let lon, let lat { return LocationFix(position: Coordinate(longitude: lon, latitude: lat), accuracyMetres: accuracy) }
            guard let saved = try patrol.store.setting("patrol.position") else { return nil }
            let parts = saved.split(separator: ",").compactMap { Double($0) }
            return parts.count == 3 ? LocationFix(position: Coordinate(longitude: parts[0], latitude: parts[1]), accuracyMetres: parts[2]) : nil
        }

        func requireFix(_ patrol: PatrolClient) throws -> LocationFix {
            guard let fix = try fix(patrol) else { throw CLIError("Give the position with --lon and --lat.") }
            return fix
        }

        func emit<T: Encodable>(_ value: T, _ text: () -> String) throws {
            print(json ? String(decoding: try Wire.encoder.encode(value), as: UTF8.self) : text())
        }
    }

    /// Push the device's photos and outbox, then pull, through its upstream (a node or the hub).
    static func sync(_ patrol: PatrolClient, progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> SyncReport {
        try await patrol.sync(progress: progress)
    }

    static func describe(_ report: SyncReport) -> String {
        "sent \(report.sent) (accepted \(report.accepted), merged \(report.merged), duplicates \(report.duplicates), rejected \(report.rejected.count)); received \(report.received); \(report.confirmedAtCounty) confirmed at the county"
    }

    struct Screen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "screen", abstract: "The interactive full-screen client (the default).")
        @OptionGroup var options: Options

        func run() async throws {
            let patrol = try options.open()
            let terminal = PatrolTerminal(patrol: patrol, position: try options.fix(patrol)) {
                do { return "✔ " + PatrolCommand.describe(try await PatrolCommand.sync(patrol)) } catch { return "✘ sync failed: \(error) — everything stays saved on this device" }
            }
            await terminal.run()
        }
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "init", abstract: "Enrol this device with the credential the county issued.")
        @OptionGroup var options: Options
        @Option(help: "The upstream: the township node's or the county hub's address.") var upstream: String
        @Option(help: "The credential the county issued.") var credential: String
        @Option(help: "This device's replica id, e.g. patrol:chief-371312001201.") var replica: String
        @Option(help: "The field chief's person id (default: the replica's name).") var person: String?

        func run() async throws {
            guard let url = URL(string: upstream) else { throw CLIError("\(upstream) is not a URL.") }
            let id = try ReplicaID(replica)
            let patrol = try PatrolClient(storePath: options.store, clock: nowMilliseconds, location: NoLocation())
            let name = person ?? String(replica.drop { $0 != ":" }.dropFirst())
            try await patrol.enrol(upstream: url, credential: credential, replica: id, person: name)
            let jurisdiction = try patrol.meta().jurisdiction
            print("\(id) (\(name)) enrolled with \(upstream) for \(Wire.describe(jurisdiction)); run `tianzhang patrol sync` to download your villages' map and tasks")
        }
    }

    struct CheckInCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "checkin", abstract: "Check in at a parcel (recorded on the device, with the geofence).")
        @OptionGroup var options: Options
        @Argument(help: "The parcel id.") var parcel: String
        @Option(help: "What was seen.") var observation = "正常 normal"

        func run() async throws {
            let patrol = try options.open()
            let checkIn = try await patrol.checkIn(parcel: parcel, observation: observation, fix: try options.requireFix(patrol))
            try options.emit(checkIn) { "checked in at \(parcel): \(PatrolTerminal.describe(checkIn.geofence)) (check-in \(checkIn.id), waiting to sync)" }
        }
    }

    struct ReportCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "report", abstract: "Report earth-moving: a suspected case with photos; the three-ones clock starts now.")
        @OptionGroup var options: Options
        @Option(help: "Violation type (\(ViolationType.allCases.map(\.rawValue).joined(separator: ", "))).") var violation: String
        @Option(help: "What was seen.") var note: String
        @Option(name: .customLong("photo"), help: "A photo file (repeatable).") var photos: [String] = []
        @Option(help: "The parcel it is on (default: the nearest).") var parcel: String?
        @Option(help: "Affected area in mu.") var area: Double = 0

        struct Body: Codable { var caseID: String; var village: String?; var photos: [String]; var reportBy: Int64; var onSiteBy: Int64; var restoreBy: Int64 }

        func run() async throws {
            guard let type = ViolationType(rawValue: violation) else {
                throw CLIError("\(violation) is not a violation type (\(ViolationType.allCases.map(\.rawValue).joined(separator: ", "))).")
            }
            let patrol = try options.open()
            let report = try await patrol.report(violation: type, note: note, photos: photos.map { URL(fileURLWithPath: $0) }, parcel: parcel,
                                                 areaMu: area, fix: try options.requireFix(patrol))
            let body = Body(caseID: report.caseRecord.id.rawValue, village: report.caseRecord.village?.rawValue, photos: report.photos,
                            reportBy: report.deadlines.reportBy.milliseconds, onSiteBy: report.deadlines.onSiteBy.milliseconds, restoreBy: report.deadlines.restoreBy.milliseconds)
            try options.emit(body) {
                "reported case \(body.caseID) in \(body.village ?? "?") with \(report.photos.count) photo(s); on site by \(PatrolTerminal.time(report.deadlines.onSiteBy)), restore by \(PatrolTerminal.time(report.deadlines.restoreBy)) (waiting to sync)"
            }
        }
    }

    struct Tasks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "tasks", abstract: "Open tasks pushed to this field chief, with countdowns.")
        @OptionGroup var options: Options
        func run() async throws {
            let tasks = try options.open().tasks()
            try options.emit(tasks) {
                tasks.isEmpty ? "no open task" : tasks.map { "\($0.task.id)  \($0.countdown)  \($0.task.village?.rawValue ?? "")  \($0.summary ?? "")" }.joined(separator: "\n")
            }
        }
    }

    struct Complete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "complete", abstract: "Complete a verification task with a decision and evidence.")
        @OptionGroup var options: Options
        @Argument(help: "The task id.") var task: String
        @Option(help: "confirmed or dismissed.") var decision: String
        @Option(help: "What was found.") var note = ""
        @Option(name: .customLong("photo"), help: "A photo file (repeatable).") var photos: [String] = []

        func run() async throws {
            guard let status = CaseStatus(rawValue: decision), status.isDecision else { throw CLIError("--decision is confirmed or dismissed.") }
            try await options.open().completeTask(task, decision: status, note: note, photos: photos.map { URL(fileURLWithPath: $0) })
            print("task \(task) completed: \(decision) (waiting to sync)")
        }
    }

    struct Near: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "near", abstract: "Parcels of your villages near a position, nearest first.")
        @OptionGroup var options: Options
        @Option(help: "Search radius in metres.") var within: Double = 500

        struct Row: Codable { var parcel: String; var distanceMetres: Double; var landClass: String; var areaMu: Double }

        func run() async throws {
            let patrol = try options.open()
            let rows = try patrol.parcels(near: try options.requireFix(patrol).position, within: within).map {
                Row(parcel: $0.parcel.id.rawValue, distanceMetres: ($0.distanceMetres * 10).rounded() / 10, landClass: $0.parcel.landClass, areaMu: $0.parcel.areaMu)
            }
            try options.emit(rows) { rows.isEmpty ? "no parcel within \(Int(within)) m" : rows.map { "\($0.parcel)  \($0.distanceMetres) m  \($0.landClass)  \($0.areaMu) 亩" }.joined(separator: "\n") }
        }
    }

    struct Pending: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pending", abstract: "What is recorded here and not yet at the county, and how old it is.")
        @OptionGroup var options: Options
        /// `--json`: the counts a script wants first, then each item.
        struct Body: Encodable { var notYetSent, notYetAtCounty, photos: Int; var oldestAgeMilliseconds: Int64?; var items: [PendingWork.Item] }
        func run() async throws {
            let pending = try options.open().pending()
            let body = Body(notYetSent: pending.notYetSent, notYetAtCounty: pending.notYetAtCounty, photos: pending.photos,
                            oldestAgeMilliseconds: pending.oldestAgeMilliseconds, items: pending.items)
            try options.emit(body) {
                ([ "\(pending.notYetSent) to send, \(pending.notYetAtCounty) not yet at the county, \(pending.photos) photo(s)"]
                    + pending.items.map { "  \($0.state.padding(toLength: 9, withPad: " ", startingAt: 0)) \($0.type) \($0.record)  \(TaskView.clockText($0.ageMilliseconds)) old\($0.reason.map { " — \($0)" } ?? "")" }).joined(separator: "\n")
            }
        }
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sync", abstract: "Send photos and records up, receive the map and tasks; retries by itself.")
        @OptionGroup var options: Options
        func run() async throws {
            let patrol = try options.open()
            let quiet = options.json
            let report = try await PatrolCommand.sync(patrol) { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
            try options.emit(report) { PatrolCommand.describe(report) }
        }
    }
}
