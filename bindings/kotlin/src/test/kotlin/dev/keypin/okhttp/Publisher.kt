package dev.keypin.okhttp

import java.io.Closeable
import java.io.File

/**
 * A pin-bundle publisher made with the real CLI: a root of trust (`keypin bundle keygen`,
 * `keypin bundle root`), bundles signed with `keypin bundle sign`, served by
 * `keypin bundle serve` on loopback.
 */
class Publisher : Closeable {
    val work: File = Support.tempDir("keypin-publisher")
    private val site = File(work, "site").apply { mkdirs() }
    private val key = File(work, "k1")
    private val rootFile = File(work, "root.json")
    val port = Support.freePort()
    val baseUrl = "http://127.0.0.1:$port/"
    private val serve: Process

    init {
        Support.ok("bundle", "keygen", "--out", key.path)
        Support.ok(
            "bundle", "root", "--key", "${key.path}.pub", "--threshold", "1",
            "--expires", "2099-12-31", "--sign-with", key.path, "--out", rootFile.path,
        )
        val log = File(work, "serve.log")
        serve = Support.start("bundle", "serve", site.path, "--listen", "127.0.0.1:$port", log = log)
        Support.waitForPort(port, serve, log)
    }

    /** The root of trust the app embeds. */
    val root: ByteArray get() = rootFile.readBytes()

    /** A bundle of `policy` at `version`, signed by the root's key. */
    fun sign(version: Int, policy: String): ByteArray {
        val file = File(work, "policy-v$version.toml").apply { writeText(policy) }
        val out = File(work, "bundle-v$version.json")
        Support.ok(
            "bundle", "sign", file.path, "--root", rootFile.path, "--key", key.path,
            "--app-id", APP_ID, "--env", ENV, "--version", "$version",
            "--expires", "2099-12-31", "--out", out.path,
        )
        return out.readBytes()
    }

    /** Serves `bytes` as bundle.json from now on. */
    fun publish(bytes: ByteArray) = File(site, "bundle.json").writeBytes(bytes)

    /** An updater for `pinning` that fetches from this publisher. */
    fun updater(pinning: KeypinPinning, stateDir: File, base: String = baseUrl) =
        KeypinUpdater(pinning, base, APP_ID, ENV, root, stateDir)

    override fun close() {
        serve.destroy()
    }

    companion object {
        const val APP_ID = "com.example.app"
        const val ENV = "production"
    }
}
