// Symmetric eigendecomposition (LAPACK dsyevd, from OpenBLAS) and Double matrix products (cblas_dgemm), for the
// curvature factors of the K-FAC edit.
import COpenBLAS

public enum Eigen {
    /// Eigenvalues (ascending) and eigenvectors of the symmetric matrix a[n, n] (row-major; only symmetry is assumed).
    /// vectors[i * n + j] is component i of eigenvector j (the columns are the eigenvectors), so a = V diag(w) V^T.
    /// Returns nil when LAPACK reports a failure to converge.
    public static func symmetric(_ a: [Double], n: Int) -> (values: [Double], vectors: [Double])? {
        precondition(a.count == n * n && n > 0)
        // Row-major a is column-major a^T = a; the column-major result V comes back as row-major V^T.
        var m = a, w = [Double](repeating: 0, count: n), info: Int32 = 0
        var nn = Int32(n), lda = Int32(n), lwork: Int32 = -1, liwork: Int32 = -1
        var wq = 0.0, iwq: Int32 = 0
        let jobz = Array("V".utf8CString), uplo = Array("U".utf8CString)
        dsyevd_(jobz, uplo, &nn, &m, &lda, &w, &wq, &lwork, &iwq, &liwork, &info, 1, 1)   // workspace query
        guard info == 0 else { return nil }
        lwork = Int32(wq); liwork = iwq
        var work = [Double](repeating: 0, count: max(1, Int(lwork))), iwork = [Int32](repeating: 0, count: max(1, Int(liwork)))
        dsyevd_(jobz, uplo, &nn, &m, &lda, &w, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        guard info == 0 else { return nil }
        // m (row-major view) holds V^T: row j is eigenvector j. Transpose into columns.
        var v = [Double](repeating: 0, count: n * n)
        for j in 0..<n { for i in 0..<n { v[i * n + j] = m[j * n + i] } }
        return (w, v)
    }
}

extension BLAS {
    /// Row-major C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C, in Double.
    public static func dgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
                             b: UnsafePointer<Double>, ldb: Int,
                             beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}
