import Foundation
import TianzhangDomain

/// The stored form of a merge state (decision 012): a versioned binary encoding, read and written
/// without `Codable`. Replica ids are written once, in a table at the front, and referred to by index;
/// integers are LEB128 varints (signed ones zigzag); a JSON value is a tag byte and its payload.
///
/// Layout, version 1: `F1 01`, then the replica table (count, ids), then the record (key type, key id,
/// scope, first change, context, scope stamp, fault, registers). Stores tell it from a version 1 JSON
/// state by its first byte (`{` starts JSON); both are read.
public enum StateCodec {
    static let magic: UInt8 = 0xF1
    static let version: UInt8 = 1

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static func encode(_ state: RecordState) -> [UInt8] {
        var writer = Writer()
        var body = Writer()
        body.string(state.key.type.rawValue)
        body.string(state.key.id)
        body.string(state.scope.rawValue)
        body.changeID(state.first, &writer.replicas)
        body.context(state.context, &writer.replicas)
        body.write(state.scopeStamp, &writer.replicas)
        body.byte(state.fault == nil ? 0 : state.fault == .lastArrivalWins ? 1 : 2)
        body.varint(UInt64(state.registers.count))
        for field in state.registers.keys.sorted() {
            let register = state.registers[field]!
            body.string(field)
            let context = register.context != register.derivedContext, writers = register.writers != register.derivedWriters
            body.byte((context ? 1 : 0) | (writers ? 2 : 0))
            body.varint(UInt64(register.heads.count))
            for head in register.heads { body.write(head, &writer.replicas) }
            if context { body.context(register.context, &writer.replicas) }
            if writers {
                body.varint(UInt64(register.writers.seqs.count))
                for origin in register.writers.seqs.keys.sorted() {
                    body.varint(writer.replicas.index(origin))
                    let seqs = register.writers.seqs[origin]!
                    body.varint(UInt64(seqs.count))
                    for seq in seqs { body.varint(seq) }
                }
            }
            body.varint(UInt64(register.integers.runs.count))
            for run in register.integers.runs {
                body.signed(run.lowerBound)
                body.varint(UInt64(run.upperBound - run.lowerBound))
            }
            body.varint(UInt64(register.others.count))
            for element in register.others { body.json(element) }
        }
        writer.byte(magic)
        writer.byte(version)
        writer.varint(UInt64(writer.replicas.order.count))
        for replica in writer.replicas.order { writer.string(replica.rawValue) }
        writer.bytes += body.bytes
        return writer.bytes
    }

    public static func isBinary(_ bytes: some Collection<UInt8>) -> Bool { bytes.first == magic }

    public static func decode(_ bytes: [UInt8]) throws -> RecordState {
        var reader = Reader(bytes: bytes)
        guard try reader.byte() == magic else { throw Malformed(description: "not a binary merge state") }
        let version = try reader.byte()
        guard version == Self.version else { throw Malformed(description: "merge state encoding \(version) is newer than this release reads (\(Self.version))") }
        let count = try reader.count()
        var replicas: [ReplicaID] = []
        replicas.reserveCapacity(count)
        for _ in 0..<count { replicas.append(try ReplicaID(try reader.string())) }
        reader.replicas = replicas
        guard let type = RecordType(rawValue: try reader.string()) else { throw Malformed(description: "unknown record type") }
        let key = RecordKey(type, try reader.string())
        let scope = try DivisionCode(try reader.string())
        let first = try reader.changeID()
        let context = try reader.context()
        let stamp = try reader.write()
        let faultByte = try reader.byte()
        var registers: [String: FieldRegister] = [:]
        for _ in 0..<(try reader.count()) {
            let field = try reader.string()
            let flags = try reader.byte()
            var register = FieldRegister()
            for _ in 0..<(try reader.count()) { register.heads.append(try reader.write()) }
            register.context = flags & 1 != 0 ? try reader.context() : register.derivedContext
            if flags & 2 != 0 {
                var writers = LastWrites()
                for _ in 0..<(try reader.count()) {
                    let origin = try reader.replica()
                    for _ in 0..<(try reader.count()) { writers.insert(ChangeID(origin: origin, seq: try reader.varint())) }
                }
                register.writers = writers
            } else {
                register.writers = register.derivedWriters
            }
            var runs = IntegerRuns()
            for _ in 0..<(try reader.count()) {
                let low = try reader.signed()
                let span = try reader.varint()
                guard span < UInt64(Int64.max), low <= Int64.max - Int64(span) else { throw Malformed(description: "a run overflows") }
                runs.insertRun(low...(low + Int64(span)))
            }
            var others: [JSONValue] = []
            for _ in 0..<(try reader.count()) { others.append(try reader.json(depth: 0)) }
            register.setElements(integers: runs, others: others)
            registers[field] = register
        }
        guard reader.offset == bytes.count else { throw Malformed(description: "\(bytes.count - reader.offset) bytes after the state") }
        return RecordState(
            key: key, registers: registers, context: context, first: first, scope: scope, scopeStamp: stamp,
            fault: faultByte == 0 ? nil : faultByte == 1 ? .lastArrivalWins : .lwwKeepsOlder)
    }

    struct ReplicaTable {
        var order: [ReplicaID] = []
        var indices: [ReplicaID: UInt64] = [:]

        mutating func index(_ replica: ReplicaID) -> UInt64 {
            if let index = indices[replica] { return index }
            let index = UInt64(order.count)
            order.append(replica)
            indices[replica] = index
            return index
        }
    }

    struct Writer {
        var bytes: [UInt8] = []
        var replicas = ReplicaTable()

        mutating func byte(_ value: UInt8) { bytes.append(value) }

        mutating func varint(_ value: UInt64) {
            var rest = value
            while rest >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            bytes.append(UInt8(rest))
        }

        mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

        mutating func string(_ value: String) {
            var text = value
            text.withUTF8 { utf8 in
                varint(UInt64(utf8.count))
                bytes.append(contentsOf: utf8)
            }
        }

        mutating func changeID(_ id: ChangeID, _ table: inout ReplicaTable) {
            varint(table.index(id.origin))
            varint(id.seq)
        }

        mutating func context(_ context: CausalContext, _ table: inout ReplicaTable) {
            varint(UInt64(context.maxima.count))
            for origin in context.maxima.keys.sorted() {
                varint(table.index(origin))
                varint(context.maxima[origin]!)
            }
        }

        mutating func write(_ write: FieldWrite, _ table: inout ReplicaTable) {
            changeID(write.id, &table)
            signed(write.hlc.wall)
            varint(UInt64(write.hlc.counter))
            string(write.author)
            json(write.value)
            varint(UInt64(write.base.count))
            for id in write.base { changeID(id, &table) }
        }

        mutating func json(_ value: JSONValue) {
            switch value {
            case .null: byte(0)
            case .bool(let flag): byte(flag ? 2 : 1)
            case .number(let number):
                if number.rounded() == number, abs(number) <= 9_007_199_254_740_992, !(number == 0 && number.sign == .minus) {
                    byte(4)
                    signed(Int64(number))
                } else {
                    byte(3)
                    var bits = number.bitPattern.littleEndian
                    withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
                }
            case .string(let text):
                byte(5)
                string(text)
            case .array(let items):
                byte(6)
                varint(UInt64(items.count))
                for item in items { json(item) }
            case .object(let members):
                byte(7)
                varint(UInt64(members.count))
                for name in members.keys.sorted() {
                    string(name)
                    json(members[name]!)
                }
            }
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0
        var replicas: [ReplicaID] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func byte() throws -> UInt8 {
            guard offset < bytes.count else { throw Malformed(description: "the state ends early") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func varint() throws -> UInt64 {
            var result: UInt64 = 0, shift: UInt64 = 0
            while true {
                let next = try byte()
                guard shift < 64 else { throw Malformed(description: "a number is too long") }
                result |= UInt64(next & 0x7F) << shift
                if next & 0x80 == 0 { return result }
                shift += 7
            }
        }

        /// A count of items that follow: never more than the bytes left could hold.
        mutating func count() throws -> Int {
            let value = try varint()
            guard value <= UInt64(bytes.count - offset) else { throw Malformed(description: "a count of \(value) exceeds the state") }
            return Int(value)
        }

        mutating func signed() throws -> Int64 {
            let raw = try varint()
            return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        }

        mutating func string() throws -> String {
            let length = try count()
            defer { offset += length }
            return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
        }

        mutating func replica() throws -> ReplicaID {
            let index = try varint()
            guard index < UInt64(replicas.count) else { throw Malformed(description: "replica \(index) is not in the table") }
            return replicas[Int(index)]
        }

        mutating func changeID() throws -> ChangeID { ChangeID(origin: try replica(), seq: try varint()) }

        mutating func context() throws -> CausalContext {
            var context = CausalContext()
            for _ in 0..<(try count()) {
                let origin = try replica()
                context.insert(ChangeID(origin: origin, seq: try varint()))
            }
            return context
        }

        mutating func write() throws -> FieldWrite {
            let id = try changeID()
            let wall = try signed()
            let counter = try varint()
            guard counter <= UInt64(UInt32.max) else { throw Malformed(description: "an HLC counter is too large") }
            let author = try string()
            let value = try json(depth: 0)
            var base: [ChangeID] = []
            for _ in 0..<(try count()) { base.append(try changeID()) }
            return FieldWrite(id: id, hlc: HLC(wall: wall, counter: UInt32(counter)), author: author, value: value, base: base)
        }

        mutating func json(depth: Int) throws -> JSONValue {
            guard depth < 64 else { throw Malformed(description: "a value nests too deep") }
            switch try byte() {
            case 0: return .null
            case 1: return .bool(false)
            case 2: return .bool(true)
            case 3:
                guard offset + 8 <= bytes.count else { throw Malformed(description: "the state ends early") }
                var bits: UInt64 = 0
                for index in 0..<8 { bits |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
                offset += 8
                return .number(Double(bitPattern: bits))
            case 4: return .number(Double(try signed()))
            case 5: return .string(try string())
            case 6:
                var items: [JSONValue] = []
                for _ in 0..<(try count()) { items.append(try json(depth: depth + 1)) }
                return .array(items)
            case 7:
                var members: [String: JSONValue] = [:]
                for _ in 0..<(try count()) {
                    let name = try string()
                    members[name] = try json(depth: depth + 1)
                }
                return .object(members)
            case let tag: throw Malformed(description: "unknown value tag \(tag)")
            }
        }
    }
}

/// A merge state in a text column (PostgreSQL's `record_state.state`): `tzs1:` and the binary form in
/// base64; a version 1 JSON state (it starts with `{`) is still read.
public enum StateText {
    static let prefix = "tzs1:"

    public static func encode(_ state: RecordState) -> String { prefix + Data(StateCodec.encode(state)).base64EncodedString() }

    public static func decode(_ text: String) throws -> RecordState {
        guard text.hasPrefix(prefix) else { return try StoredJSON.decode(RecordState.self, text) }
        guard let data = Data(base64Encoded: String(text.dropFirst(prefix.count))) else {
            throw StateCodec.Malformed(description: "a stored merge state is not valid base64")
        }
        return try StateCodec.decode(Array(data))
    }
}
