package dev.keypin.okhttp

import java.io.File
import java.net.InetAddress
import java.nio.file.Files
import java.security.KeyStore
import java.security.cert.CertificateFactory
import java.util.concurrent.TimeUnit
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory
import javax.net.ssl.X509TrustManager
import kotlin.system.exitProcess
import okhttp3.CertificatePinner
import okhttp3.Dns
import okhttp3.OkHttpClient
import okhttp3.Request

/**
 * The lab client `keypin lab run` judges: one GET of `url` through OkHttp, trusting the lab's
 * CA file (as a device with a user-installed CA), the lab host resolved to `addr`.
 *
 * `LabClientKt MODE URL CA_FILE ADDR [POLICY_FILE | PINS_OKHTTP]`, MODE one of
 * - `keypin`: OkHttp pinned by keypin with the lab's policy file;
 * - `plain`: OkHttp with the same trust store, no pinning;
 * - `pinner`: OkHttp's own CertificatePinner with the lab's pins (`sha256/..,sha256/..`).
 *
 * Exit 0 when a response came back, 1 when the call failed (the message on stderr).
 */
fun main(args: Array<String>) {
    if (args.size < 4) {
        System.err.println("usage: LabClientKt keypin|plain|pinner URL CA_FILE ADDR [POLICY|PINS]")
        exitProcess(2)
    }
    val (mode, url, caFile, addr) = args
    val trust = trustManagerFrom(File(caFile))
    val labIp = InetAddress.getByName(addr.substringBeforeLast(':'))
    val builder = OkHttpClient.Builder()
        .dns(object : Dns { override fun lookup(hostname: String) = listOf(labIp) })
        .callTimeout(4, TimeUnit.SECONDS)
    val client = when (mode) {
        "keypin" -> {
            val state = Files.createTempDirectory("keypin-lab-client").toFile()
            val pinning = KeypinPinning.fromToml(File(args[4]).readText(), state, platformTrustManager = trust)
            pinning.install(builder).build()
        }
        "plain" -> builder.sslSocketFactory(context(trust).socketFactory, trust).build()
        "pinner" -> {
            val host = url.substringAfter("://").substringBefore(":").substringBefore("/")
            val pinner = CertificatePinner.Builder().add(host, *args[4].split(',').toTypedArray()).build()
            builder.sslSocketFactory(context(trust).socketFactory, trust).certificatePinner(pinner).build()
        }
        else -> {
            System.err.println("unknown mode $mode")
            exitProcess(2)
        }
    }
    try {
        client.newCall(Request.Builder().url(url).build()).execute().use {
            println("HTTP ${it.code}")
        }
        exitProcess(0)
    } catch (e: Exception) {
        System.err.println("${e.javaClass.simpleName}: ${e.message?.lineSequence()?.firstOrNull()}")
        exitProcess(1)
    }
}

/** A trust manager over every certificate of a PEM file. */
fun trustManagerFrom(pem: File): X509TrustManager {
    val store = KeyStore.getInstance(KeyStore.getDefaultType()).apply { load(null, null) }
    pem.inputStream().use { input ->
        CertificateFactory.getInstance("X.509").generateCertificates(input).forEachIndexed { i, cert ->
            store.setCertificateEntry("ca$i", cert)
        }
    }
    return KeypinPinning.systemTrustManager(store)
}

fun context(trust: X509TrustManager): SSLContext =
    SSLContext.getInstance("TLS").apply { init(null, arrayOf(trust), null) }
