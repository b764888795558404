package dev.keypin.okhttp

import java.io.File
import javax.net.ssl.SSLException
import okhttp3.OkHttpClient
import okhttp3.Request
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/** A pin failure's report reaches `keypin collector serve` and appears in its API. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ReportTest {
    private val work = Support.tempDir("keypin-report")
    private val port = Support.freePort()
    private val token = "test-token-0123456789abcdef"
    private val collector: Process

    init {
        val log = File(work, "collector.log")
        collector = Support.start(
            "collector", "serve", "--db", File(work, "reports.db").path, "--listen", "127.0.0.1:$port",
            env = mapOf("KEYPIN_COLLECTOR_TOKEN" to token), log = log,
        )
        Support.waitForPort(port, collector, log)
    }

    @AfterAll
    fun stop() {
        collector.destroy()
    }

    private fun pinning(state: File): KeypinPinning {
        val host = LabServer.host("A3")
        return KeypinPinning.fromToml(
            LabServer.policy(listOf(host), LabServer.pins),
            state,
            app = AppInfo(appId = "com.example.okhttp", appVersion = "1.0"),
            reportUris = listOf("http://127.0.0.1:$port/v1/reports"),
            platformTrustManager = trustManagerFrom(LabServer.trustStore),
        )
    }

    private fun fail(pinning: KeypinPinning) {
        val client = pinning.install(Support.builder()).build()
        assertThrows(SSLException::class.java) {
            client.newCall(Request.Builder().url(LabServer.url("A3")).build()).execute().close()
        }
    }

    @Test
    fun a3_failure_report_reaches_the_collector_and_is_not_sent_twice_across_restarts() {
        val state = File(work, "state")
        val first = pinning(state)
        fail(first)
        assertTrue(first.reporter.flush(), "the report was delivered")
        val listed = OkHttpClient().newCall(
            Request.Builder().url("http://127.0.0.1:$port/v1/reports?host=${LabServer.host("A3")}")
                .header("Authorization", "Bearer $token").build(),
        ).execute().use { it.body!!.string() }
        assertTrue(listed.contains(LabServer.host("A3")), listed)
        assertTrue(listed.contains("pin-mismatch"), listed)
        assertTrue(listed.contains("com.example.okhttp"), listed)
        first.close()

        // Same failure after a restart: de-duplicated (delivered within 24 h).
        val second = pinning(state)
        fail(second)
        assertEquals(0, second.core.pendingReports(10u).size)
        second.close()
    }
}
