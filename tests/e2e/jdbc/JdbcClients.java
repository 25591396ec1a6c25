// Several pgjdbc clients, each on its own thread, running server-prepared statements
// (prepareThreshold=1 in the URL) through qail-proxy and checking every result.
//
// Usage: java -cp DIR:postgresql.jar JdbcClients URL USER PASSWORD THREADS ITERATIONS TABLE
// Prints "ok: N threads x M iterations" and exits 0, or prints every failure and exits 1.
// Compiled and run by tests/e2e/clients_e2e.py (jdbc_prepared_statements).

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.postgresql.PGStatement;

public final class JdbcClients {
    private JdbcClients() {}

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    private static void runClient(String url, Properties props, int id, int iterations, String table)
            throws SQLException {
        try (Connection c = DriverManager.getConnection(url, props)) {
            c.setAutoCommit(true);
            for (int i = 0; i < iterations; i++) {
                // The same SQL text on every thread: the driver names it S_1, S_2... on each
                // connection, so the names collide across clients behind the proxy.
                try (PreparedStatement ps = c.prepareStatement("SELECT ?::int + ?::int, ?::text || 'x'")) {
                    ps.setInt(1, i);
                    ps.setInt(2, id);
                    ps.setString(3, "t" + id);
                    check(ps.unwrap(PGStatement.class).isUseServerPrepare(),
                          "prepareThreshold=1 but the statement is not server-prepared");
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "sum: no row");
                        check(rs.getInt(1) == i + id, "sum: got " + rs.getInt(1) + " want " + (i + id));
                        check(rs.getString(2).equals("t" + id + "x"), "sum: text " + rs.getString(2));
                        check(!rs.next(), "sum: extra row");
                    }
                }
                // A statement whose text differs per client.
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT g * " + (id + 1) + " FROM generate_series(1, ?) g ORDER BY g")) {
                    int n = i % 7 + 1;
                    ps.setInt(1, n);
                    try (ResultSet rs = ps.executeQuery()) {
                        for (int g = 1; g <= n; g++) {
                            check(rs.next(), "series: missing row " + g);
                            check(rs.getLong(1) == (long) g * (id + 1), "series: row " + g + " = " + rs.getLong(1));
                        }
                        check(!rs.next(), "series: extra row");
                    }
                }
                // Typed parameters in the binary format once the statement is prepared.
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT ?::bigint * 2, ?::numeric + 1, ?::boolean, ?::float8 / 2")) {
                    ps.setLong(1, 4000000000L + i);
                    ps.setBigDecimal(2, new java.math.BigDecimal("12345678901234567890.5"));
                    ps.setBoolean(3, i % 2 == 0);
                    ps.setDouble(4, 3.0);
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "types: no row");
                        check(rs.getLong(1) == 2 * (4000000000L + i), "types: bigint " + rs.getLong(1));
                        check(rs.getBigDecimal(2).equals(new java.math.BigDecimal("12345678901234567891.5")),
                              "types: numeric " + rs.getBigDecimal(2));
                        check(rs.getBoolean(3) == (i % 2 == 0), "types: bool");
                        check(rs.getDouble(4) == 1.5, "types: float8 " + rs.getDouble(4));
                    }
                }
                // A batch insert, then an explicit transaction that sees it and updates it.
                try (PreparedStatement ps = c.prepareStatement(
                        "INSERT INTO " + table + " (client, iter, k, v) VALUES (?, ?, ?, ?)")) {
                    for (int k = 0; k < 3; k++) {
                        ps.setInt(1, id);
                        ps.setInt(2, i);
                        ps.setInt(3, k);
                        ps.setString(4, "v" + k);
                        ps.addBatch();
                    }
                    int[] counts = ps.executeBatch();
                    check(counts.length == 3, "batch: " + counts.length + " counts");
                    for (int n : counts) {
                        check(n == 1, "batch: update count " + n);
                    }
                }
                c.setAutoCommit(false);
                try (PreparedStatement upd = c.prepareStatement(
                        "UPDATE " + table + " SET v = v || '!' WHERE client = ? AND iter = ?");
                     PreparedStatement pid = c.prepareStatement("SELECT pg_backend_pid()")) {
                    int first;
                    try (ResultSet rs = pid.executeQuery()) {
                        rs.next();
                        first = rs.getInt(1);
                    }
                    upd.setInt(1, id);
                    upd.setInt(2, i);
                    check(upd.executeUpdate() == 3, "update: not 3 rows");
                    try (ResultSet rs = pid.executeQuery()) {
                        rs.next();
                        check(rs.getInt(1) == first, "a transaction moved to another backend");
                    }
                    c.commit();
                }
                // A rolled-back delete.
                try (PreparedStatement del = c.prepareStatement(
                        "DELETE FROM " + table + " WHERE client = ? AND iter = ?")) {
                    del.setInt(1, id);
                    del.setInt(2, i);
                    check(del.executeUpdate() == 3, "delete: not 3 rows");
                    c.rollback();
                }
                c.setAutoCommit(true);
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT k, v FROM " + table + " WHERE client = ? AND iter = ? ORDER BY k")) {
                    ps.setInt(1, id);
                    ps.setInt(2, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        for (int k = 0; k < 3; k++) {
                            check(rs.next(), "reread: missing row " + k);
                            check(rs.getInt(1) == k && rs.getString(2).equals("v" + k + "!"),
                                  "reread: row " + rs.getInt(1) + " " + rs.getString(2));
                        }
                        check(!rs.next(), "reread: extra row");
                    }
                }
                // An error from a prepared statement leaves the connection usable.
                if (i % 10 == 5) {
                    try (PreparedStatement ps = c.prepareStatement("SELECT 1 / ?::int")) {
                        ps.setInt(1, 0);
                        ps.executeQuery().close();
                        check(false, "division by zero did not fail");
                    } catch (SQLException e) {
                        check("22012".equals(e.getSQLState()), "want 22012, got " + e.getSQLState() + ": " + e);
                    }
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: JdbcClients URL USER PASSWORD THREADS ITERATIONS TABLE");
            System.exit(2);
        }
        String url = args[0];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        int threads = Integer.parseInt(args[3]);
        int iterations = Integer.parseInt(args[4]);
        String table = args[5];
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            Thread th = new Thread(() -> {
                try {
                    runClient(url, props, id, iterations, table);
                } catch (Throwable e) {
                    failures.add("client " + id + ": " + e);
                }
            });
            workers.add(th);
            th.start();
        }
        for (Thread th : workers) {
            th.join(300_000);
            if (th.isAlive()) {
                failures.add("a client did not finish within 300 s");
            }
        }
        if (!failures.isEmpty()) {
            for (String f : failures) {
                System.out.println("FAIL " + f);
            }
            System.exit(1);
        }
        System.out.println("ok: " + threads + " threads x " + iterations + " iterations");
        System.exit(0);
    }
}
