// Ctrl-C and SIGTERM during a run: the run is marked interrupted in the store before the process exits.
import Checkpoint
import Foundation
import Store

/// On SIGINT/SIGTERM: says so on stderr, marks the run interrupted (on a connection of its own), removes any
/// half-written output (`PendingOutputs`), flushes stdout and ends the process at once with 130/143.
/// `_exit`, not `exit`: `exit` runs atexit handlers, and OpenBLAS's waits for its worker threads while the main
/// thread keeps computing, so the process would run on to the end. Nothing else needs flushing: stderr is
/// unbuffered, and the main thread's SQLite connection is either between transactions or rolled back by SQLite
/// on the next open (the WAL keeps the store intact).
/// SIGKILL cannot be caught: the next command that opens the store sees the dead pid and marks the run then.
public final class InterruptGuard {
    private var sources: [DispatchSourceSignal] = []
    /// `runID`/`dbPath`: the run to mark, or nil where there is none yet (fine-tuning records its run at the end).
    public init(runID: String?, dbPath: String?) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                if let runID, let dbPath {
                    FileHandle.standardError.write(Data("auditor: interrupted; run \(runID) marked interrupted in \(dbPath)\n".utf8))
                    if let st = try? Store(path: dbPath) { try? st.markInterrupted(id: runID) }
                } else {
                    FileHandle.standardError.write(Data("auditor: interrupted\n".utf8))
                }
                PendingOutputs.removeAll()
                fflush(nil)  // all C streams: stdout is buffered when it is a file or a pipe
                _exit(128 + sig)
            }
            s.resume()
            sources.append(s)
        }
    }
    public func cancel() { sources.forEach { $0.cancel() }; signal(SIGINT, SIG_DFL); signal(SIGTERM, SIG_DFL) }
}
