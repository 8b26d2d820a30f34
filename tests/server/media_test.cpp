// The remote-media guards: which addresses count as private and which hosts an allow-list admits
// (the end-to-end fetch over https from a local TLS server is tests/clients/remote_media.test.mjs).
#include "server/media.h"

#include <gtest/gtest.h>

namespace autoglm {
namespace {

TEST(Media, PrivateAddresses) {
    for (const char* ip : {"127.0.0.1",
                           "127.8.9.10",
                           "10.1.2.3",
                           "172.16.0.1",
                           "172.31.255.255",
                           "192.168.1.1",
                           "169.254.169.254",
                           "0.0.0.0",
                           "100.64.0.1",
                           "::1",
                           "::",
                           "fe80::1",
                           "fc00::1",
                           "fd12:3456::1",
                           "::ffff:127.0.0.1",
                           "::ffff:10.0.0.1",
                           "224.0.0.1",
                           "255.255.255.255",
                           "198.18.0.1",
                           "192.0.0.8",
                           "::10.0.0.1",
                           "64:ff9b::a00:1",
                           "2002:a00:1::1",
                           "fec0::1",
                           "ff02::1",
                           "not an address",
                           ""})
        EXPECT_TRUE(is_private_address(ip)) << ip;
    for (const char* ip : {"8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "100.128.0.1",
                           "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808",
                           "2002:808:808::1", "223.255.255.255"})
        EXPECT_FALSE(is_private_address(ip)) << ip;
}

TEST(Media, AllowedDomainsAdmitThemselvesAndSubdomains) {
    const std::vector<std::string> domains = {"example.com", "CDN.test."};
    EXPECT_TRUE(domain_allowed("example.com", domains));
    EXPECT_TRUE(domain_allowed("img.Example.com", domains));
    EXPECT_TRUE(domain_allowed("a.b.cdn.test", domains));
    EXPECT_TRUE(domain_allowed("cdn.test.", domains));
    EXPECT_FALSE(domain_allowed("badexample.com", domains));
    EXPECT_FALSE(domain_allowed("example.com.evil.org", domains));
    EXPECT_FALSE(domain_allowed("", domains));
    EXPECT_TRUE(domain_allowed("anything.org", {})) << "no list: any host";
}

TEST(Media, RemoteUrlsNeedTheSwitchAndASchemeWeSpeak) {
    MediaOptions o;
    EXPECT_TRUE(is_remote_url("https://example.com/a.png"));
    EXPECT_TRUE(is_remote_url("http://example.com/a.png"));
    EXPECT_FALSE(is_remote_url("ftp://example.com/a.png"));
    auto r = fetch_image_bytes("https://example.com/a.png", o);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error_message().find("--allow-remote-media"), std::string::npos);
    o.allow_remote_media = true;
    r = fetch_image_bytes("ftp://example.com/a.png", o);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error_message().find("unsupported image URL"), std::string::npos);
    // Loopback is refused before any request is sent (nothing listens on port 9 here anyway).
    r = fetch_image_bytes("http://127.0.0.1:9/a.png", o);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error_message().find("--allow-private-media-addresses"), std::string::npos)
        << r.error_message();
}

}  // namespace
}  // namespace autoglm
