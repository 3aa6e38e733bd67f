import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS

extension HubServer {
    /// The hub's TLS identity: a PEM certificate chain (the hub's certificate first, then any
    /// intermediates up to the county CA) and its PEM private key.
    public struct TLSFiles: Sendable, Equatable {
        public var certificateChainPath: String
        public var privateKeyPath: String

        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }

        /// Loads both files into a server TLS configuration.
        /// - Throws: `HubTLSError` with code `tls_certificate_unreadable` (missing, unreadable or holding no
        ///   PEM certificate) or `tls_key_unreadable` (missing, unreadable or not a PEM private key).
        public func serverConfiguration() throws(HubTLSError) -> TLSConfiguration {
            let chain: [NIOSSLCertificate]
            do { chain = try NIOSSLCertificate.fromPEMFile(certificateChainPath) } catch {
                throw HubTLSError(code: "tls_certificate_unreadable", message: "The TLS certificate chain \(certificateChainPath) cannot be read as PEM (\(error)).")
            }
            guard !chain.isEmpty else {
                throw HubTLSError(code: "tls_certificate_unreadable", message: "The TLS certificate chain \(certificateChainPath) holds no PEM certificate.")
            }
            let key: NIOSSLPrivateKey
            do { key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem) } catch {
                throw HubTLSError(code: "tls_key_unreadable", message: "The TLS private key \(privateKeyPath) cannot be read as a PEM private key (\(error)).")
            }
            return .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        }
    }

    /// http/1.1, inside TLS when the configuration has a TLS identity.
    /// - Throws: `HubTLSError` (see `TLSFiles.serverConfiguration()`).
    func serverBuilder() throws -> HTTPServerBuilder {
        guard let tls = configuration.tls else { return .http1() }
        return try .tls(.http1(), tlsConfiguration: try tls.serverConfiguration())
    }
}

/// The hub cannot serve https with the files it was given.
public struct HubTLSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Stable: `tls_certificate_unreadable`, `tls_key_unreadable`.
    public var code: String
    public var message: String
    public var description: String { "\(message) [\(code)]" }
}
