/*
 * test_connquota.c - max.connections.per.ip: counting per address, the
 * overrides list, IPv4-mapped IPv6 counted as IPv4, slots given back, and
 * the parse errors an operator would see.
 */
#include "net/connquota.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"

static connquota_addr v4(const char *ip)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton(AF_INET, ip, &sa.sin_addr);
    return connquota_addr_of((struct sockaddr *)&sa);
}

static connquota_addr v6(const char *ip)
{
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
    inet_pton(AF_INET6, ip, &sa.sin6_addr);
    return connquota_addr_of((struct sockaddr *)&sa);
}

static void test_counting(void)
{
    char err[256] = "";
    connquota *q = connquota_new(2, "", err, sizeof err);
    CHECK(q != NULL);
    connquota_addr a = v4("10.0.0.1"), b = v4("10.0.0.2");
    int32_t max = -1;
    CHECK_EQ_I64(connquota_acquire(q, &a, &max), 1);
    CHECK_EQ_I64(connquota_acquire(q, &a, &max), 1);
    CHECK_EQ_I64(connquota_acquire(q, &a, &max), -1);
    CHECK_EQ_I64(max, 2);
    CHECK_EQ_I64(connquota_acquire(q, &b, &max), 1); /* another address is not affected */
    CHECK_EQ_I64(connquota_count(q, &a), 2);
    connquota_release(q, &a);
    CHECK_EQ_I64(connquota_count(q, &a), 1);
    CHECK_EQ_I64(connquota_acquire(q, &a, &max), 1);
    connquota_release(q, &a);
    connquota_release(q, &a);
    CHECK_EQ_I64(connquota_count(q, &a), 0);
    /* The mapped form of an IPv4 address shares its count. */
    connquota_addr m = v6("::ffff:10.0.0.2");
    CHECK_EQ_I64(connquota_acquire(q, &m, &max), 1);
    CHECK_EQ_I64(connquota_acquire(q, &b, &max), -1);
    connquota_free(q);
    CHECK_EQ_I64(connquota_acquire(NULL, &a, &max), 0);
}

static void test_overrides(void)
{
    char err[256] = "";
    connquota *q = connquota_new(1, " 127.0.0.1:3 , [::1]:0,localhost:3", err, sizeof err);
    CHECK(q != NULL);
    if (!q)
        return;
    connquota_addr lo = v4("127.0.0.1"), lo6 = v6("::1"), other = v4("192.0.2.7");
    int32_t max = -1;
    for (int i = 0; i < 3; i++)
        CHECK_EQ_I64(connquota_acquire(q, &lo, &max), 1);
    CHECK_EQ_I64(connquota_acquire(q, &lo, &max), -1);
    CHECK_EQ_I64(max, 3);
    CHECK_EQ_I64(connquota_acquire(q, &lo6, &max), -1); /* the first entry for ::1 wins: 0 */
    CHECK_EQ_I64(max, 0);
    CHECK_EQ_I64(connquota_acquire(q, &other, &max), 1);
    CHECK_EQ_I64(connquota_acquire(q, &other, &max), -1);
    CHECK_EQ_I64(max, 1);
    connquota_free(q);
}

static void test_parse_errors(void)
{
    char err[256];
    const char *bad[] = { "127.0.0.1", "127.0.0.1:", ":5", "127.0.0.1:x", "127.0.0.1:-1",
                          "no-such-host.invalid:3" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        connquota *q = connquota_new(10, bad[i], err, sizeof err);
        CHECK(q == NULL);
        CHECK(strstr(err, "max.connections.per.ip.overrides") != NULL);
        connquota_free(q);
    }
}

int main(void)
{
    test_counting();
    test_overrides();
    test_parse_errors();
    TEST_REPORT();
}
