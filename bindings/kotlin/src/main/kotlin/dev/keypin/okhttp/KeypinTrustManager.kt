package dev.keypin.okhttp

import java.net.Socket
import java.security.cert.CertificateException
import java.security.cert.X509Certificate
import javax.net.ssl.SSLEngine
import javax.net.ssl.SSLSocket
import javax.net.ssl.X509ExtendedTrustManager
import javax.net.ssl.X509TrustManager

/**
 * The platform's trust manager first, then keypin's pins on the verified path. The host comes
 * from the handshake (the name OkHttp connects to); without one the chain is refused.
 */
internal class KeypinTrustManager(
    private val platform: X509TrustManager,
    private val pinning: KeypinPinning,
) : X509ExtendedTrustManager() {

    override fun checkServerTrusted(chain: Array<X509Certificate>, authType: String, socket: Socket?) {
        val extended = platform as? X509ExtendedTrustManager
        if (extended != null) extended.checkServerTrusted(chain, authType, socket) else platform.checkServerTrusted(chain, authType)
        val session = (socket as? SSLSocket)?.handshakeSession
        val host = session?.peerHost ?: throw CertificateException("keypin: the connection has no host name; refused")
        pinning.remember(session, pinning.verify(host, chain.toList()))
    }

    override fun checkServerTrusted(chain: Array<X509Certificate>, authType: String, engine: SSLEngine?) {
        val extended = platform as? X509ExtendedTrustManager
        if (extended != null) extended.checkServerTrusted(chain, authType, engine) else platform.checkServerTrusted(chain, authType)
        val session = engine?.handshakeSession
        val host = session?.peerHost ?: throw CertificateException("keypin: the connection has no host name; refused")
        pinning.remember(session, pinning.verify(host, chain.toList()))
    }

    override fun checkServerTrusted(chain: Array<X509Certificate>, authType: String) {
        throw CertificateException("keypin: a server chain checked without its connection has no host name; refused")
    }

    override fun checkClientTrusted(chain: Array<X509Certificate>, authType: String, socket: Socket?) =
        throw CertificateException("keypin pins servers; it does not accept clients")

    override fun checkClientTrusted(chain: Array<X509Certificate>, authType: String, engine: SSLEngine?) =
        throw CertificateException("keypin pins servers; it does not accept clients")

    override fun checkClientTrusted(chain: Array<X509Certificate>, authType: String) =
        throw CertificateException("keypin pins servers; it does not accept clients")

    override fun getAcceptedIssuers(): Array<X509Certificate> = platform.acceptedIssuers
}
