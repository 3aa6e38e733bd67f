// swift-tools-version: 6.1
import PackageDescription

// Dependencies point one way: Domain ← Sync ← Store ← SQLite, with the executable at the edge.
// The pure targets (Domain, Sync, Seed) import no GRDB, NIO or Hummingbird.
let package = Package(
    name: "Tianzhang",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tianzhang", targets: ["tianzhang"]),
        .library(name: "TianzhangDomain", targets: ["TianzhangDomain"]),
        .library(name: "TianzhangSync", targets: ["TianzhangSync"]),
        .library(name: "TianzhangSQLite", targets: ["TianzhangSQLite"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3" ..< "5.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Pure domain model: jurisdictions, parcels, cases and their workflow, geometry. No I/O.
        .target(name: "TianzhangDomain"),
        // The real reference data (division codes, land classes) shipped as resources, and their loaders.
        .target(
            name: "TianzhangReference",
            dependencies: ["TianzhangDomain"],
            resources: [.copy("Resources")]
        ),
        // Pure sync core: changes, hybrid logical clocks, merge and conflict rules, protocol messages.
        .target(
            name: "TianzhangSync",
            dependencies: ["TianzhangDomain", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The replica store protocol and its in-memory reference model.
        .target(name: "TianzhangStore", dependencies: ["TianzhangDomain", "TianzhangSync"]),
        // SQLite adapter through GRDB on the system libsqlite3 (WAL).
        .target(
            name: "TianzhangSQLite",
            dependencies: ["TianzhangDomain", "TianzhangSync", "TianzhangStore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The hub's sync store on PostgreSQL through PostgresNIO: several stateless hub processes on one database.
        .target(
            name: "TianzhangPostgres",
            dependencies: ["TianzhangDomain", "TianzhangSync", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        // Test-only: the trait that makes thread-blocking tests take turns (Tests/ only; links Swift Testing).
        .target(name: "TianzhangTestGate"),
        // The test world as a library: seeded simulation of many replicas with faults.
        .target(name: "TianzhangTesting", dependencies: ["TianzhangDomain", "TianzhangSync", "TianzhangStore"]),
        // The system libcurl (libcurl4-openssl-dev), for the node's HTTP client.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // Typed C wrappers around libcurl's variadic calls (curl_easy_setopt, curl_easy_getinfo), which Swift cannot call.
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        // The client side of the protocol, with no server in it: the sync client on libcurl's easy API,
        // the sync runner (push, pull, retries, scope changes), resumable attachment uploads, the wire format.
        .target(
            name: "TianzhangClient",
            dependencies: [
                "TianzhangDomain", "TianzhangSync", "TianzhangStore", "TianzhangSQLite", "CCurl", "CCurlShim",
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        // The servers: the county hub and a township node serving protocol v1 over HTTP(S) (Hummingbird, HummingbirdTLS).
        .target(
            name: "TianzhangHTTP",
            dependencies: [
                "TianzhangDomain", "TianzhangSync", "TianzhangStore", "TianzhangSQLite", "TianzhangClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        // The patrol client core a field chief's app embeds: its own store and photo vault, injectable
        // clock and position; check-ins with geofence, reports with photos, tasks, pending work.
        .target(name: "TianzhangPatrol", dependencies: ["TianzhangDomain", "TianzhangSync", "TianzhangStore", "TianzhangSQLite", "TianzhangClient"]),
        // Deterministic county generator and GeoJSON import/export.
        .target(name: "TianzhangSeed", dependencies: ["TianzhangDomain", "TianzhangReference"]),
        // The one command-line tool: seed | hub | node | patrol | demo | simulate.
        .executableTarget(
            name: "tianzhang",
            dependencies: [
                "TianzhangDomain", "TianzhangReference", "TianzhangSync", "TianzhangStore",
                "TianzhangSQLite", "TianzhangPostgres", "TianzhangSeed", "TianzhangTesting", "TianzhangHTTP", "TianzhangPatrol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TianzhangDomainTests", dependencies: ["TianzhangDomain", "TianzhangReference"]),
        .testTarget(
            name: "TianzhangSyncTests",
            dependencies: [
                "TianzhangSync", "TianzhangStore", "TianzhangTesting", "TianzhangTestGate", "TianzhangSQLite", "TianzhangPostgres",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: []
        ),
        .testTarget(name: "TianzhangSQLiteTests", dependencies: ["TianzhangSQLite", "TianzhangSeed", "TianzhangTesting", "TianzhangReference", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "TianzhangSeedTests", dependencies: ["TianzhangSeed", "TianzhangReference"]),
        .testTarget(name: "TianzhangCLITests", dependencies: ["TianzhangDomain", "TianzhangTesting", "TianzhangTestGate"]),
        .testTarget(name: "TianzhangPatrolTests", dependencies: ["TianzhangPatrol", "TianzhangHTTP", "TianzhangStore", "TianzhangSQLite", "TianzhangSync", "TianzhangTesting", "TianzhangTestGate"]),
        .testTarget(name: "TianzhangHTTPTests", dependencies: ["TianzhangHTTP", "TianzhangStore", "TianzhangSQLite", "TianzhangSync", "TianzhangTesting", "TianzhangTestGate"]),
    ],
    swiftLanguageModes: [.v6]
)
