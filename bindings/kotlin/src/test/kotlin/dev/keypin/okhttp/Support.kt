package dev.keypin.okhttp

import java.io.File
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import okhttp3.Dns
import okhttp3.OkHttpClient

/** The real `keypin` binary (built by cargo in the Maven build), and helpers to drive it. */
object Support {
    val keypin: String = System.getProperty("keypin.bin")
        ?: error("system property keypin.bin (the keypin binary) is not set; run the tests with Maven")

    val results: File = File(System.getProperty("keypin.results") ?: "target/keypin-results").apply { mkdirs() }

    private val started = mutableListOf<Process>()

    init {
        Runtime.getRuntime().addShutdownHook(Thread { stopAll() })
    }

    fun tempDir(prefix: String): File = Files.createTempDirectory(prefix).toFile()

    /** Runs `keypin args...` to completion; returns (exit code, stdout + stderr). */
    fun run(vararg args: String, env: Map<String, String> = emptyMap(), timeoutSeconds: Long = 600): Pair<Int, String> {
        val pb = ProcessBuilder(listOf(keypin) + args).redirectErrorStream(true)
        pb.environment().putAll(env)
        val p = pb.start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) { "keypin ${args.joinToString(" ")} did not finish" }
        return p.exitValue() to out
    }

    /** Runs `keypin args...` and requires exit 0. */
    fun ok(vararg args: String): String {
        val (code, out) = run(*args)
        check(code == 0) { "keypin ${args.joinToString(" ")} exited $code:\n$out" }
        return out
    }

    /** Starts `keypin args...` in the background (stopped when the tests end). */
    fun start(vararg args: String, env: Map<String, String> = emptyMap(), log: File): Process {
        val pb = ProcessBuilder(listOf(keypin) + args).redirectErrorStream(true).redirectOutput(log)
        pb.environment().putAll(env)
        return pb.start().also { synchronized(started) { started += it } }
    }

    fun stopAll() {
        synchronized(started) {
            started.forEach { it.destroy() }
            started.clear()
        }
    }

    fun freePort(): Int = ServerSocket(0).use { it.localPort }

    /** Waits until something listens on 127.0.0.1:port. */
    fun waitForPort(port: Int, process: Process, log: File) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (System.nanoTime() < deadline) {
            check(process.isAlive) { "the server exited:\n${log.readText()}" }
            try {
                Socket().use { it.connect(InetSocketAddress("127.0.0.1", port), 200); return }
            } catch (_: Exception) {
                Thread.sleep(100)
            }
        }
        error("nothing listens on 127.0.0.1:$port:\n${log.readText()}")
    }

    /** Resolves every name to loopback (the lab's hosts). */
    val loopbackDns = object : Dns { override fun lookup(hostname: String) = listOf(InetAddress.getLoopbackAddress()) }

    fun builder(): OkHttpClient.Builder =
        OkHttpClient.Builder().dns(loopbackDns).callTimeout(10, TimeUnit.SECONDS)
}

/** `keypin lab serve` running in the background: every scenario on loopback, for the tests. */
object LabServer {
    val dir: File = Support.tempDir("keypin-lab-serve")
    private val log = File(dir, "serve.log")
    private val process: Process = Support.start("lab", "serve", "--out", dir.path, log = log)

    init {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        while (!log.readText().contains("A3 ") && System.nanoTime() < deadline) {
            check(process.isAlive) { "keypin lab serve exited:\n${log.readText()}" }
            Thread.sleep(100)
        }
    }

    val trustStore: File get() = File(dir, "trust-store.pem")

    /** The lab's pins (genuine issuing CA, genuine leaf, backup), OkHttp spelling. */
    val pins: List<String> get() = File(dir, "pins.txt").readLines().filter { it.startsWith("sha256/") }

    /** The URL a scenario is served at, from the serve log's table. */
    fun url(id: String): String =
        log.readLines().map { it.trim().split(Regex("\\s+")) }
            .firstOrNull { it.size >= 3 && it[0] == id }?.get(2)
            ?: error("scenario $id not in the lab's table:\n${log.readText()}")

    fun host(id: String): String = url(id).substringAfter("://").substringBefore(":")

    /** A policy pinning `pins` for `hosts`. */
    fun policy(hosts: List<String>, pins: List<String>, extra: String = ""): String =
        "[[rule]]\nhosts = [${hosts.joinToString { "\"$it\"" }}]\npins = [${pins.joinToString { "\"$it\"" }}]\n$extra\n"
}
