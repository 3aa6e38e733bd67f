import Foundation
import PropertyBased
import Testing
import TianzhangDomain
import TianzhangSync

/// Random histories of one record: writes to a few fields from a few origins, each building on a random
/// subset of earlier writes, with random clocks (including clocks far behind).
enum History {
    static let origins = ["node:371312001", "node:371312004", "patrol:p1", "hub:371312"].map { try! ReplicaID($0) }
    static let fields = ["summary", "status", "assignees", "violation"]
    static let statuses: [CaseStatus] = [.reported, .verifying, .confirmed, .dismissed, .stopped, .rectifying, .rectified, .closed]
    static let scope = try! DivisionCode("371312001201")

    /// The library's generator draws the shape; `make` turns it into changes.
    static let generator = Gen.int(in: 0...Int(Int32.max)).array(of: 1...14)

    /// Honest histories: each origin writes from its own view (its own changes and what it heard from
    /// others, always whole views, so every view is causally closed), and a write's base is the heads of
    /// its field in that view, as `SyncEngine.record` does.
    static func make(_ draws: [Int]) -> [Change] {
        var rng = SplitMix64(seed: UInt64(bitPattern: Int64(draws.reduce(17) { $0 &* 31 &+ $1 })))
        var changes: [Change] = []
        var seqs: [ReplicaID: UInt64] = [:]
        var known: [ReplicaID: Set<Int>] = [:]
        for draw in draws {
            let origin = origins[draw % origins.count]
            if rng.chance(0.5) {
                let other = origins[Int(rng.next() % UInt64(origins.count))]
                known[origin, default: []].formUnion(known[other] ?? [])
            }
            let view = fold((known[origin] ?? []).sorted().map { changes[$0] })
            seqs[origin, default: 0] += 1
            let field = fields[(draw / 7) % fields.count]
            var base = view?.heads(of: [field]) ?? []
            if base.isEmpty, let view { base = [view.first] }
            changes.append(change(origin: origin, seq: seqs[origin]!, field: field, draw: draw, base: base, rng: &rng))
            known[origin, default: []].insert(changes.count - 1)
        }
        return changes
    }

    /// Arbitrary histories: each write builds on a random subset of earlier writes, which no honest
    /// writer does (it may name a write it could not have seen as current).
    static func makeArbitrary(_ draws: [Int]) -> [Change] {
        var rng = SplitMix64(seed: UInt64(bitPattern: Int64(draws.reduce(17) { $0 &* 31 &+ $1 })))
        var changes: [Change] = []
        var seqs: [ReplicaID: UInt64] = [:]
        for draw in draws {
            let origin = origins[draw % origins.count]
            seqs[origin, default: 0] += 1
            let field = fields[(draw / 7) % fields.count]
            let base = changes.filter { _ in rng.chance(0.4) }.map(\.id)
            changes.append(change(origin: origin, seq: seqs[origin]!, field: field, draw: draw, base: base, rng: &rng))
        }
        return changes
    }

    static func change(origin: ReplicaID, seq: UInt64, field: String, draw: Int, base: [ChangeID], rng: inout SplitMix64) -> Change {
        let operation: FieldOperation
        switch field {
        case "assignees": operation = .add([.string("officer-\(draw % 3)")])
        case "status":
            let status = statuses[(draw / 3) % statuses.count]
            operation = .set(WorkflowValue(status: status, round: 1 + (draw / 11) % 2).json)
        default: operation = .set(.string("v\(draw % 4)"))
        }
        let hlc = HLC(wall: 1_000_000 + Int64(rng.next() % 5_000), counter: UInt32(rng.next() % 3))
        return Change(
            id: ChangeID(origin: origin, seq: seq), recordType: .enforcementCase, recordID: "CASE1", scope: scope,
            hlc: hlc, author: "a", base: base, fields: [field: operation])
    }

    static func fold(_ changes: [Change]) -> RecordState? {
        guard let first = changes.first else { return nil }
        var state = RecordState(first: first, key: RecordKey(.enforcementCase, "CASE1"))
        for change in changes.dropFirst() { state.apply(change) }
        return state
    }
}

@Suite("Merge laws (property-based, pinned seeds)")
struct MergePropertyTests {
    @Test("folding the same changes in any order gives the same state (commutativity)")
    func orderDoesNotMatter() {
        var rng = Xoshiro(seed: (0x7A, 0x6E, 0x67, 0x31))
        for _ in 0..<500 {
            let changes = History.make(History.generator.run(using: &rng))
            let shuffled = changes.shuffled(using: &rng)
            let a = History.fold(changes)!, b = History.fold(shuffled)!
            #expect(a.materialized == b.materialized)
            #expect(a.conflicts == b.conflicts)
            #expect(StateDigest.of([a]) == StateDigest.of([b]))
        }
    }

    @Test("with arbitrary bases too, every order gives the same values and the same open conflicts")
    func arbitraryBasesStillConverge() {
        var rng = Xoshiro(seed: (0x5A, 0x11, 0x0F, 0x3D))
        for _ in 0..<500 {
            let changes = History.makeArbitrary(History.generator.run(using: &rng))
            let a = History.fold(changes)!, b = History.fold(changes.shuffled(using: &rng))!
            #expect(a.materialized == b.materialized)
            #expect(a.conflicts.filter { $0.status == .open } == b.conflicts.filter { $0.status == .open })
            #expect(a.registers.mapValues(\.heads) == b.registers.mapValues(\.heads))
        }
    }

    @Test("one field edited 10,000 times keeps a state no larger than after its first edits")
    func stateStaysBounded() throws {
        let origins = History.origins
        var changes: [Change] = []
        var state: RecordState?
        var sizes: [Int: Int] = [:]
        for index in 0..<10_000 {
            // Two writers take turns, and now and then write at once (a conflict that the next edit resolves).
            let origin = origins[index % 2]
            let base = state.map { $0.heads(of: ["summary"]) } ?? []
            let change = Change(
                id: ChangeID(origin: origin, seq: UInt64(index / 2 + 1)), recordType: .enforcementCase, recordID: "CASE1",
                scope: History.scope, hlc: HLC(wall: 1_000_000 + Int64(index)), author: "a",
                base: index % 10 == 3 ? changes.dropLast().last.map { [$0.id] } ?? base : base,
                fields: ["summary": .set(.string("edit \(index % 7)"))])
            changes.append(change)
            if var current = state { current.apply(change); state = current } else { state = RecordState(first: change, key: RecordKey(.enforcementCase, "CASE1")) }
            if [1, 2, 10, 100, 1_000, 10_000].contains(index + 1) { sizes[index + 1] = try StoredJSON.text(state!).utf8.count }
        }
        let after2 = try #require(sizes[2]), after10k = try #require(sizes[10_000])
        #expect(after10k <= 2 * after2, "state \(sizes.sorted { $0.key < $1.key })")
        #expect(state!.registers["summary"]!.heads.count <= 2)
    }

    @Test("a base sent out of order is kept in change-id order, and a field named like a status member never hides the status")
    func receivedFormIsCanonical() throws {
        let text = """
            {"origin":"node:371312001","seq":2,"type":"case","record":"CASE1","scope":"371312001201","hlc":"1000-0","author":"a",
             "base":["patrol:p1/1","node:371312004/1","hub:371312/1"],"ops":{"summary":{"set":"x"},"round":{"set":9},"decision":{"set":"nope"}}}
            """
        let change = try JSONDecoder().decode(Change.self, from: Data(text.utf8))
        #expect(change.base == change.base.sorted())
        let status = Change(
            id: ChangeID(origin: History.origins[0], seq: 1), recordType: .enforcementCase, recordID: "CASE1", scope: History.scope,
            hlc: HLC(wall: 900), author: "a", fields: ["status": .set(WorkflowValue(status: .confirmed, round: 1).json)])
        for order in [[status, change], [change, status]] {
            let state = History.fold(order)!
            #expect(state.registers["summary"]?.heads.first?.base == change.base)
            #expect(state.materialized["round"] == .number(1) && state.materialized["decision"] == "confirmed")
        }
    }

    @Test("integer runs hold the same set as a Set, in any order of inserts and unions, as disjoint runs")
    func integerRunsAreASet() {
        var rng = Xoshiro(seed: (0x12, 0x34, 0x56, 0x78))
        for _ in 0..<300 {
            let count = Int.random(in: 0...200, using: &rng)
            let values = (0..<count).map { _ in Int64.random(in: -5...120, using: &rng) }
            var a = IntegerRuns(), b = IntegerRuns()
            for value in values { a.insert(value) }
            let cut = values.count / 2
            for value in values[..<cut].shuffled(using: &rng) { b.insert(value) }
            var c = IntegerRuns()
            for value in values[cut...] { c.insert(value) }
            let joined = b.union(c), reversed = c.union(b)
            let expected = Array(Set(values)).sorted()
            #expect(a.values == expected && joined.values == expected && reversed.values == expected)
            #expect(a == joined && joined == reversed)
            for (x, y) in zip(a.runs, a.runs.dropFirst()) { #expect(x.upperBound + 1 < y.lowerBound) }
            #expect((-6...121).allSatisfy { a.contains(Int64($0)) == Set(values).contains(Int64($0)) })
        }
    }

    @Test("the binary state form reads back the same state, as the JSON form does; any cut of it is refused, never a crash")
    func binaryFormRoundTrips() throws {
        var rng = Xoshiro(seed: (0xB1, 0x0A, 0x57, 0xA7))
        for _ in 0..<300 {
            let changes = History.make(History.generator.run(using: &rng)) + History.makeArbitrary(History.generator.run(using: &rng)).map { change in
                var moved = change
                moved.id = ChangeID(origin: change.id.origin, seq: change.id.seq + 100)
                return moved
            }
            let state = History.fold(changes)!
            let bytes = StateCodec.encode(state)
            #expect(try StateCodec.decode(bytes) == state)
            #expect(try StoredJSON.decode(RecordState.self, try StoredJSON.text(state)) == state)
            #expect(try StateText.decode(StateText.encode(state)) == state, "the text form PostgreSQL keeps")
            #expect(try StateText.decode(try StoredJSON.text(state)) == state, "a JSON state in the text column")
            let cut = Int.random(in: 0..<bytes.count, using: &rng)
            #expect(throws: (any Error).self) { try StateCodec.decode(Array(bytes[..<cut])) }
        }
        // Values of every kind: numbers whole and not, negative zero, large, nested objects, non-ASCII.
        let odd: JSONValue = ["a": [1, -0.0, 2.5, 9_007_199_254_740_993, -1e300, .null, true, false], "名称": ["深": "冠县"], "": ""]
        let change = Change(id: ChangeID(origin: History.origins[1], seq: 7), recordType: .enforcementCase, recordID: "CASE1", scope: History.scope,
                            hlc: HLC(wall: -5, counter: UInt32.max), author: "王五", fields: ["note": .set(odd), "assignees": .add([1, 3, 2, "x", -7])])
        let state = RecordState(first: change, key: RecordKey(.enforcementCase, "CASE1"))
        #expect(try StateCodec.decode(StateCodec.encode(state)) == state)
        #expect(try StateCodec.decode(StateCodec.encode(state)).materialized.canonicalText == state.materialized.canonicalText)
    }

    @Test("joining states groups any way (associativity) and agrees with folding")
    func groupingDoesNotMatter() {
        var rng = Xoshiro(seed: (0x41, 0x53, 0x53, 0x4F))
        for _ in 0..<500 {
            let changes = History.make(History.generator.run(using: &rng))
            guard changes.count >= 3 else { continue }
            let cut1 = Int.random(in: 1..<changes.count - 1, using: &rng)
            let cut2 = Int.random(in: cut1 + 1..<changes.count, using: &rng)
            let x = History.fold(Array(changes[..<cut1]))!
            let y = History.fold(Array(changes[cut1..<cut2]))!
            let z = History.fold(Array(changes[cut2...]))!
            let left = x.merged(with: y).merged(with: z)
            let right = x.merged(with: y.merged(with: z))
            let whole = History.fold(changes)!
            #expect(left.materialized == right.materialized)
            #expect(left.materialized == whole.materialized)
            #expect(left.conflicts == whole.conflicts)
            #expect(y.merged(with: x).materialized == x.merged(with: y).materialized)
        }
    }

    @Test("applying a change again, or joining a state with itself, changes nothing (idempotence)")
    func repeatsChangeNothing() {
        var rng = Xoshiro(seed: (0x1D, 0xE4, 0x90, 0x7E))
        for _ in 0..<500 {
            let changes = History.make(History.generator.run(using: &rng))
            var state = History.fold(changes)!
            let before = state
            for change in changes.shuffled(using: &rng) { #expect(state.apply(change) == false) }
            #expect(state == before)
            #expect(before.merged(with: before) == before)
        }
    }

    @Test("a write that builds on every head ends the conflict, on every replica")
    func resolutionClosesConflict() {
        var rng = Xoshiro(seed: (0x0C, 0x0F, 0x11, 0x1C))
        var resolvedSome = 0
        for _ in 0..<300 {
            let changes = History.make(History.generator.run(using: &rng))
            let state = History.fold(changes)!
            guard let open = state.conflicts.first(where: { $0.status == .open && $0.rule == .lastWriterWins }) else { continue }
            let heads = state.heads(of: [open.field])
            let resolver = Change(
                id: ChangeID(origin: try! ReplicaID("hub:371312"), seq: 999), recordType: .enforcementCase, recordID: "CASE1",
                scope: History.scope, hlc: HLC(wall: 1), author: "dispatcher", base: heads, fields: [open.field: .set("decided")])
            let resolved = History.fold((changes + [resolver]).shuffled(using: &rng))!
            let conflict = resolved.conflicts.first { $0.field == open.field }
            #expect(conflict?.status == .resolved)
            #expect(conflict?.winner.id == resolver.id)
            #expect(resolved.materialized[open.field] == "decided", "a resolution wins even with an older clock")
            resolvedSome += 1
        }
        #expect(resolvedSome > 20)
    }
}

@Suite("Hybrid logical clock (property-based, pinned seeds)")
struct ClockPropertyTests {
    @Test("ticks never go backwards, whatever the device clock does")
    func monotonic() {
        var rng = Xoshiro(seed: (0xC1, 0x0C, 0x4B, 0x00))
        let jumps = Gen.int(in: -10_800_000...600_000).array(of: 1...50)
        for _ in 0..<300 {
            var clock = HLCClock()
            var physical: Int64 = 1_700_000_000_000
            var last = HLC.zero
            for jump in jumps.run(using: &rng) {
                physical += Int64(jump)
                let stamp = clock.tick(physical: physical)
                #expect(stamp > last)
                #expect(stamp.wall >= physical)
                last = stamp
            }
        }
    }

    @Test("after observing a stamp, the next tick is later than it (unless it was too far ahead)")
    func observeMovesPast() {
        var rng = Xoshiro(seed: (0x0B, 0x5E, 0x4F, 0xED))
        let offsets = Gen.int(in: -10_800_000...3_600_000).array(of: 1...30)
        for _ in 0..<300 {
            var clock = HLCClock(futureToleranceMilliseconds: 300_000)
            let physical: Int64 = 1_700_000_000_000
            for offset in offsets.run(using: &rng) {
                let remote = HLC(wall: physical + Int64(offset), counter: UInt32(abs(offset) % 5))
                let before = clock.last
                let absorbed = clock.observe(remote, physical: physical)
                #expect(absorbed == (Int64(offset) <= 300_000))
                let next = clock.tick(physical: physical)
                #expect(next > before)
                if absorbed { #expect(next > remote) } else { #expect(next.wall < remote.wall) }
            }
        }
    }

    @Test("stamps round-trip through their wire form")
    func wireForm() {
        var rng = Xoshiro(seed: (1, 2, 3, 4))
        let walls = Gen.int(in: 0...Int(Int64.max / 2))
        for _ in 0..<500 {
            let stamp = HLC(wall: Int64(walls.run(using: &rng)), counter: UInt32.random(in: 0...UInt32.max, using: &rng))
            #expect(HLC(stamp.description) == stamp)
        }
        #expect(HLC("12-x") == nil)
        #expect(HLC("-1-0") == nil)
        #expect(HLC("5") == nil)
    }

    @Test("stamps and change ids have one spelling each: no sign, no leading zero, ASCII digits only")
    func oneSpelling() throws {
        for text in ["+5-0", "5-+0", "05-0", "5-00", "5-01", " 5-0", "5-0 ", "5--0", "-0", "5-", "٥-0", "5-٠", "9223372036854775808-0", "5-4294967296"] {
            #expect(HLC(text) == nil, "\(text)")
        }
        #expect(HLC("0-0") == HLC(wall: 0, counter: 0))
        #expect(HLC("10-7")?.description == "10-7")
        for text in ["node:371312001/+5", "node:371312001/05", "node:371312001/0", "node:371312001/", "node:371312001/٥", "node:371312001/5 ", "node:371312001/18446744073709551616"] {
            #expect(ChangeID(text) == nil, "\(text)")
        }
        #expect(ChangeID("node:371312001/10")?.seq == 10)
        #expect(ChangeID("node:371312001/18446744073709551615")?.seq == UInt64.max)
        // A change whose stamp is spelled another way is refused at decoding.
        let text = #"{"origin":"node:371312001","seq":1,"type":"case","record":"r1","scope":"371312001201","hlc":"+1000-0","author":"a","ops":{"summary":{"set":"x"}}}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Change.self, from: Data(text.utf8)) }
        #expect(throws: (any Error).self) { try Change(stored: text) }
    }
}
