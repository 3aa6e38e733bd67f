import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TianzhangDomain
import TianzhangPatrol
import TianzhangSync

/// The interactive full-screen patrol client: a state machine (keys in, state out) and a renderer
/// (state → screen lines), driven by a loop that redraws every second so countdowns stay live.
/// Everything it records goes through `PatrolClient`, so it works the same with or without signal.
final class PatrolTerminal {
    enum Screen: Equatable { case tasks, nearby, checkIn, report, complete, position, sync, help }
    enum Field: Int { case first = 0, second, third }

    let patrol: PatrolClient
    let sync: () async -> String
    var screen = Screen.tasks
    var selection = 0
    var field = Field.first
    var inputs = ["", "", ""]
    var violation = 0
    var decision = CaseStatus.confirmed
    var message = ""
    var position: LocationFix?
    var running = true
    var width = 100, height = 30

    static let violations = ViolationType.allCases
    static let violationNames: [ViolationType: String] = [
        .houseOnFarmland: "占用耕地建房 house on farmland", .greenhouseHouse: "大棚房 greenhouse house", .illegalVilla: "违建别墅 illegal villa",
        .soilExtraction: "取土 soil extraction", .wasteDumping: "倾倒垃圾 waste dumping", .sandWashing: "洗沙 sand washing",
        .nonAgriculturalUse: "非农化 non-agricultural use", .nonGrainUse: "非粮化 non-grain use", .abandonment: "撂荒 abandonment", .other: "其他 other",
    ]

    init(patrol: PatrolClient, position: LocationFix?, sync: @escaping () async -> String) {
        self.patrol = patrol
        self.position = position
        self.sync = sync
    }

    // MARK: the loop

    func run() async {
        let terminal = RawTerminal()
        terminal.enter()
        defer { terminal.leave() }
        var decoder = KeyDecoder()
        while running {
            (width, height) = terminal.size()
            terminal.draw(render())
            guard let bytes = terminal.read(timeoutMilliseconds: 1_000) else { continue }
            for key in decoder.decode(bytes) { await handle(key) }
        }
    }

    // MARK: keys

    enum Key: Equatable { case char(Character), up, down, left, right, enter, escape, tab, backspace }

    func handle(_ key: Key) async {
        let editing = [.checkIn, .report, .complete, .position].contains(screen)
        if key == .escape { if editing { screen = back } else { screen = .tasks }; return }
        if !editing, case .char(let c) = key {
            switch c {
            case "q": running = false; return
            case "1", "t": open(.tasks); return
            case "2", "n": open(.nearby); return
            case "3", "r": open(.report); return
            case "s": open(.sync); message = "syncing…"; message = await sync(); return
            case "p": open(.position); return
            case "?", "h": open(.help); return
            default: break
            }
        }
        switch screen {
        case .tasks, .nearby:
            let count = screen == .tasks ? (try? patrol.tasks().count) ?? 0 : nearby().count
            switch key {
            case .up, .char("k"): selection = max(0, selection - 1)
            case .down, .char("j"): selection = min(max(0, count - 1), selection + 1)
            case .enter, .char("c"):
                guard count > 0 else { message = screen == .tasks ? "No open task." : "No parcel near the position: set it with p."; return }
                open(screen == .tasks ? .complete : .checkIn, keepSelection: true)
            default: break
            }
        case .checkIn, .report, .complete, .position:
            await edit(key)
        case .sync, .help:
            break
        }
    }

    var back: Screen {
        switch screen {
        case .checkIn: .nearby
        case .complete: .tasks
        default: .tasks
        }
    }

    func open(_ next: Screen, keepSelection: Bool = false) {
        screen = next
        if !keepSelection { selection = 0 }
        field = .first
        inputs = ["", "", ""]
        if next == .position, let position {
            inputs = [String(position.position.longitude), String(position.position.latitude), String(position.accuracyMetres)]
        }
    }

    func edit(_ key: Key) async {
        let fields = screen == .checkIn ? 1 : 3
        switch key {
        case .tab, .down: field = Field(rawValue: (field.rawValue + 1) % fields) ?? .first
        case .up: field = Field(rawValue: (field.rawValue + fields - 1) % fields) ?? .first
        case .left, .right:
            if screen == .report && field == .first {
                violation = (violation + (key == .right ? 1 : Self.violations.count - 1)) % Self.violations.count
            } else if screen == .complete && field == .first {
                decision = decision == .confirmed ? .dismissed : .confirmed
            }
        case .backspace: if !inputs[field.rawValue].isEmpty { inputs[field.rawValue].removeLast() }
        case .char(let c):
            if !((screen == .report || screen == .complete) && field == .first) { inputs[field.rawValue].append(c) }
        case .enter: await submit()
        case .escape: break
        }
    }

    func submit() async {
        do {
            switch screen {
            case .checkIn:
                let parcel = nearby()[selection].parcel
                let fix = try requirePosition()
                let checkIn = try await patrol.checkIn(parcel: parcel.id.rawValue, observation: inputs[0].isEmpty ? "正常 normal" : inputs[0], fix: fix)
                message = "✔ checked in at \(parcel.id) — \(Self.describe(checkIn.geofence)) — saved on this device, waiting to sync"
                open(.nearby, keepSelection: true)
            case .report:
                let photos = inputs[2].split(separator: " ").map { URL(fileURLWithPath: String($0)) }
                let report = try await patrol.report(violation: Self.violations[violation], note: inputs[1], photos: photos, fix: try requirePosition())
                message = "✔ reported case \(report.caseRecord.id) with \(report.photos.count) photo(s) — on site by \(Self.time(report.deadlines.onSiteBy)) — waiting to sync"
                open(.tasks)
            case .complete:
                let task = try patrol.tasks()[selection].task
                let photos = inputs[2].split(separator: " ").map { URL(fileURLWithPath: String($0)) }
                try await patrol.completeTask(task.id.rawValue, decision: decision, note: inputs[1], photos: photos)
                message = "✔ task \(task.id) completed: \(decision.rawValue) — waiting to sync"
                open(.tasks)
            case .position:
                guard let longitude = Double(inputs[0]), let latitude = Double(inputs[1]) else {
                    message = "✘ longitude and latitude are numbers, e.g. 118.4005 and 35.1004"
                    return
                }
                let fix = LocationFix(position: Coordinate(longitude: longitude, latitude: latitude), accuracyMetres: Double(inputs[2]) ?? 10)
                try fix.position.validate()
                position = fix
                try? patrol.store.setSetting("patrol.position", "\(longitude),\(latitude),\(fix.accuracyMetres)")
                message = "✔ position set"
                open(.nearby)
            default: break
            }
        } catch {
            message = "✘ \(error)"
        }
    }

    func requirePosition() throws -> LocationFix {
        guard let position else { throw PatrolError(.noLocation, "No position yet: press p to set it.") }
        return position
    }

    func nearby() -> [NearbyParcel] {
        guard let position else { return [] }
        return (try? patrol.parcels(near: position.position, within: 1_000, limit: max(3, height - 12))) ?? []
    }

    // MARK: rendering

    func render() -> [String] {
        var lines: [String] = []
        let pending = try? patrol.pending()
        let identity = (try? patrol.meta().replica.rawValue) ?? "not enrolled"
        let where_ = position.map { String(format: "%.5f, %.5f ±%.0f m", $0.position.longitude, $0.position.latitude, $0.accuracyMetres) } ?? "no position (p)"
        lines.append(Style.bold("田长 patrol") + "  \(identity)  ·  \(where_)")
        let waiting = pending.map { "\($0.notYetSent) to send, \($0.notYetAtCounty) not yet at the county" + ($0.oldestAgeMilliseconds.map { ", oldest \(TaskView.clockText($0))" } ?? "") } ?? "?"
        let skew = skewLineChinese(try? patrol.meta().clockOffset).map { "  ·  " + Style.yellow($0) } ?? ""
        lines.append("pending: \(waiting)\(skew)")
        lines.append(tabs())
        lines.append(String(repeating: "─", count: min(width, 100)))
        switch screen {
        case .tasks: lines += renderTasks()
        case .nearby: lines += renderNearby()
        case .checkIn: lines += renderCheckIn()
        case .report: lines += renderReport()
        case .complete: lines += renderComplete()
        case .position: lines += renderPosition()
        case .sync: lines += ["Sync with the township node or the county hub.", "", message.isEmpty ? "press s to sync" : message]
        case .help: lines += Self.help
        }
        while lines.count < height - 2 { lines.append("") }
        lines = Array(lines.prefix(height - 2))
        lines.append(String(repeating: "─", count: min(width, 100)))
        lines.append(message.isEmpty || screen == .sync ? "keys: 1 tasks · 2 nearby · 3 report · s sync · p position · ? help · q quit" : message)
        return lines
    }

    func tabs() -> String {
        let items: [(Screen, String)] = [(.tasks, "1 Tasks"), (.nearby, "2 Nearby"), (.report, "3 Report"), (.sync, "s Sync"), (.position, "p Position")]
        return items.map { $0.0 == screen ? Style.bold("[\($0.1)]") : " \($0.1) " }.joined(separator: " ")
    }

    func renderTasks() -> [String] {
        guard let tasks = try? patrol.tasks(), !tasks.isEmpty else { return ["Today's tasks: none open. Sync (s) to receive new ones."] }
        var lines = ["Today's tasks (four pushes: 四个推送) — ↑↓ select, Enter complete"]
        for (index, view) in tasks.enumerated() {
            let marker = index == selection ? "▶" : " "
            let overdue = view.onSiteIn < 0
            let countdown = overdue ? Style.red(view.countdown) : Style.yellow(view.countdown)
            lines.append("\(marker) \(view.task.id.rawValue.suffix(8))  \(countdown)  \(view.task.village?.rawValue ?? view.task.township.rawValue)  \(view.summary ?? "")")
        }
        return lines
    }

    func renderNearby() -> [String] {
        guard position != nil else { return ["Set your position first (p)."] }
        let parcels = nearby()
        guard !parcels.isEmpty else { return ["No parcel of your villages within 1 km. Sync (s) to download your villages' map."] }
        var lines = ["Parcels near you — ↑↓ select, Enter check in"]
        for (index, near) in parcels.enumerated() {
            let marker = index == selection ? "▶" : " "
            let distance = near.distanceMetres == 0 ? "here" : String(format: "%.0f m", near.distanceMetres)
            let farmland = near.parcel.isPermanentBasicFarmland ? "基本农田" : ""
            lines.append("\(marker) \(near.parcel.id.rawValue)  \(distance.padding(toLength: 7, withPad: " ", startingAt: 0))  \(near.parcel.landClass)  \(String(format: "%.1f", near.parcel.areaMu)) 亩  \(farmland)")
        }
        return lines
    }

    func renderCheckIn() -> [String] {
        let parcels = nearby()
        guard selection < parcels.count else { return ["The parcel is no longer near. Esc to go back."] }
        let parcel = parcels[selection].parcel
        let fence = position.map { Self.describe(parcel.geometry.geofence($0.position, toleranceMetres: max(patrol.geofenceToleranceMetres, $0.accuracyMetres))) } ?? "?"
        return ["Check in at \(parcel.id.rawValue) (\(parcel.landClass), \(String(format: "%.1f", parcel.areaMu)) 亩)", "position: \(fence)", "",
                "What did you see? " + cursor(inputs[0], active: true), "", "Enter to save · Esc to cancel"]
    }

    func renderReport() -> [String] {
        let type = Self.violations[violation]
        return ["Report earth-moving (动土必报告): the three-ones clock starts now", "",
                "type:   " + (field == .first ? Style.bold("◀ \(Self.violationNames[type] ?? type.rawValue) ▶") : (Self.violationNames[type] ?? type.rawValue)),
                "note:   " + cursor(inputs[1], active: field == .second),
                "photos: " + cursor(inputs[2], active: field == .third) + "  (file paths, separated by spaces)", "",
                "Tab next field · ←→ change type · Enter to save · Esc to cancel"]
    }

    func renderComplete() -> [String] {
        guard let tasks = try? patrol.tasks(), selection < tasks.count else { return ["No such task. Esc to go back."] }
        let view = tasks[selection]
        return ["Complete task \(view.task.id.rawValue) — \(view.summary ?? "") — \(view.countdown)", "",
                "decision: " + (field == .first ? Style.bold("◀ \(decision.rawValue) ▶") : decision.rawValue),
                "note:     " + cursor(inputs[1], active: field == .second),
                "photos:   " + cursor(inputs[2], active: field == .third), "",
                "Tab next field · ←→ confirmed/dismissed · Enter to save · Esc to cancel"]
    }

    func renderPosition() -> [String] {
        ["Set your position (from the GPS receiver)", "",
         "longitude: " + cursor(inputs[0], active: field == .first),
         "latitude:  " + cursor(inputs[1], active: field == .second),
         "accuracy:  " + cursor(inputs[2], active: field == .third) + " m", "",
         "Tab next field · Enter to save · Esc to cancel"]
    }

    func cursor(_ text: String, active: Bool) -> String { active ? text + "█" : text }

    static func describe(_ geofence: GeofenceResult?) -> String {
        switch geofence {
        case .inside: "inside the parcel"
        case .withinTolerance(let distance): String(format: "%.0f m outside, within tolerance", distance)
        case .outside(let distance): String(format: "%.0f m OUTSIDE the parcel", distance)
        case nil: "no geofence"
        }
    }

    static func time(_ timestamp: Timestamp) -> String {
        let date = Date(timeIntervalSince1970: Double(timestamp.milliseconds) / 1000 + 8 * 3600)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
    }

    static let help = [
        "What each screen does",
        "  1 Tasks    verification tasks pushed to you, with the time left to be on site and to restore the land",
        "  2 Nearby   your villages' parcels near your position; Enter checks in (the geofence is recorded)",
        "  3 Report   report earth-moving with type, note and photos; the case starts at once, even offline",
        "  s Sync     send what you recorded and receive new tasks and maps, through the township or the county",
        "  p Position set the position by hand when the GPS receiver is not connected",
        "Everything is saved on this device first; the pending line says what has not reached the county yet.",
    ]
}

extension TaskView {
    static func clockText(_ milliseconds: Int64) -> String {
        let minutes = milliseconds / 60_000
        return minutes < 60 ? "\(minutes) min" : String(format: "%d h %02d min", minutes / 60, minutes % 60)
    }
}

/// Turns raw terminal bytes into keys (UTF-8 text, arrows, Enter, Esc, Tab, Backspace).
struct KeyDecoder {
    var pending: [UInt8] = []

    mutating func decode(_ bytes: [UInt8]) -> [PatrolTerminal.Key] {
        pending += bytes
        var keys: [PatrolTerminal.Key] = []
        var index = 0
        while index < pending.count {
            let byte = pending[index]
            switch byte {
            case 0x1B:
                if index + 2 < pending.count, pending[index + 1] == 0x5B {
                    let map: [UInt8: PatrolTerminal.Key] = [0x41: .up, 0x42: .down, 0x43: .right, 0x44: .left]
                    if let key = map[pending[index + 2]] { keys.append(key) }
                    index += 3
                } else {
                    keys.append(.escape)
                    index += 1
                }
            case 0x0D, 0x0A: keys.append(.enter); index += 1
            case 0x09: keys.append(.tab); index += 1
            case 0x7F, 0x08: keys.append(.backspace); index += 1
            case 0x03, 0x04: keys.append(.char("q")); index += 1
            default:
                let length = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                guard index + length <= pending.count else {
                    pending = Array(pending[index...])
                    return keys
                }
                if let text = String(bytes: pending[index..<index + length], encoding: .utf8), let character = text.first {
                    keys.append(.char(character))
                }
                index += length
            }
        }
        pending = []
        return keys
    }
}

/// The terminal in raw mode on the alternate screen, restored on exit.
final class RawTerminal {
    var saved = termios()
    var raw = false

    func enter() {
        if tcgetattr(0, &saved) == 0 {
            var mode = saved
            mode.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
            mode.c_iflag &= ~tcflag_t(IXON | ICRNL)
            raw = tcsetattr(0, TCSAFLUSH, &mode) == 0
        }
        write("\u{1B}[?1049h\u{1B}[?25l")
    }

    func leave() {
        write("\u{1B}[?25h\u{1B}[?1049l")
        if raw { tcsetattr(0, TCSAFLUSH, &saved) }
    }

    func size() -> (Int, Int) {
        var window = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &window) == 0, window.ws_col > 0 else { return (100, 30) }
        return (Int(window.ws_col), Int(window.ws_row))
    }

    func draw(_ lines: [String]) {
        write("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J")
    }

    /// Bytes typed within the timeout, or nil.
    func read(timeoutMilliseconds: Int32) -> [UInt8]? {
        var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, timeoutMilliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = Glibc.read(0, &buffer, buffer.count)
        guard count > 0 else { return [0x04] }
        return Array(buffer[0..<count])
    }

    func write(_ text: String) {
        let data = Array(text.utf8)
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
            guard written > 0 else { return }
            offset += written
        }
    }
}
