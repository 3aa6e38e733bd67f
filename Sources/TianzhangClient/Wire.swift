import CompressNIO
import Foundation
import NIOCore
import TianzhangDomain
import TianzhangSync

/// JSON and gzip for the wire, shared by the server and the client.
public enum Wire {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Decodes a message, turning decoding failures into `malformed_json` errors that name the field.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(WireError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw WireError(400, "malformed_json", "Member \"\(key.stringValue)\" is missing.", field: path(context.codingPath + [key]))
        } catch let DecodingError.typeMismatch(_, context) {
            throw WireError(400, "malformed_json", "Wrong type: \(context.debugDescription)", field: path(context.codingPath))
        } catch let DecodingError.valueNotFound(_, context) {
            throw WireError(400, "malformed_json", "A value is missing: \(context.debugDescription)", field: path(context.codingPath))
        } catch let DecodingError.dataCorrupted(context) {
            let where_ = context.codingPath.isEmpty ? nil : path(context.codingPath)
            throw WireError(400, "malformed_json", where_ == nil ? "The body is not valid JSON." : context.debugDescription, field: where_)
        } catch {
            throw WireError(400, "malformed_json", "The body could not be read: \(error)")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce("") { result, key in
            if let index = key.intValue { return result + "[\(index)]" }
            return result.isEmpty ? key.stringValue : result + "." + key.stringValue
        }
    }

    public static func describe(_ jurisdiction: Jurisdiction) -> String { jurisdiction.summary }

    public static func gzip(_ data: Data) throws -> Data {
        var buffer = ByteBuffer(bytes: data)
        let compressed = try buffer.compress(with: .gzip())
        return Data(compressed.readableBytesView)
    }

    /// Inflates a gzip body, refusing more than `maxBytes` once inflated.
    public static func gunzip(_ data: Data, maxBytes: Int) throws(WireError) -> Data {
        var buffer = ByteBuffer(bytes: data)
        do {
            let inflated = try buffer.decompress(with: .gzip(), maxSize: maxBytes)
            // A gzip member ends with the inflated size (mod 2^32): a cut body does not.
            let trailer = data.suffix(4)
            let size = trailer.count == 4 ? trailer.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } : UInt32.max
            guard data.count >= 18, size == UInt32(truncatingIfNeeded: inflated.readableBytes) else {
                throw WireError(400, "bad_gzip", "The gzip body is truncated: it ends before its trailer.")
            }
            return Data(inflated.readableBytesView)
        } catch let error as WireError {
            throw error
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw WireError(413, "body_too_large", "The body inflates to more than \(maxBytes) bytes.")
        } catch {
            throw WireError(400, "bad_gzip", "The gzip body is truncated or corrupt (\(error)).")
        }
    }
}
