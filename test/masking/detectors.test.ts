// Every detector: what it finds (true positives, inside longer text too) and what it must
// leave alone (look-alikes that checksums, boundaries or shapes rule out).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findIn } from './helpers.ts';

describe('email', () => {
  it('finds addresses, in text and several at once', () => {
    assert.deepEqual(findIn('email', 'jane@example.com'), ['jane@example.com']);
    assert.deepEqual(findIn('email', 'Contact: jane.doe+news@mail.example.co.uk, or bob_smith@example.org.'), ['jane.doe+news@mail.example.co.uk', 'bob_smith@example.org']);
    assert.deepEqual(findIn('email', '<a href="mailto:x.y@example.com">'), ['x.y@example.com']);
  });
  it('leaves single-label hosts, image names, URL credentials and malformed ones', () => {
    assert.deepEqual(findIn('email', 'user@localhost'), []);
    assert.deepEqual(findIn('email', 'ssh root@db1 and git@github'), []);
    assert.deepEqual(findIn('email', 'logo@2x.png'), []);
    assert.deepEqual(findIn('email', 'postgres://app:pw@db.example.com/app'), []);
    assert.deepEqual(findIn('email', 'a..b@example.com'), []);
    assert.deepEqual(findIn('email', 'x@-bad.com @example.com jane@example.c0m'), []);
    assert.deepEqual(findIn('email', '@@@@'), []);
  });
});

describe('payment_card', () => {
  it('finds Luhn-valid numbers with a known issuer, grouped or not', () => {
    assert.deepEqual(findIn('payment_card', 'card 4242 4242 4242 4242.'), ['4242 4242 4242 4242']);
    assert.deepEqual(findIn('payment_card', '5555-5555-5555-4444'), ['5555-5555-5555-4444']);
    assert.deepEqual(findIn('payment_card', 'amex 3782 822463 10005 and 6011111111111117'), ['3782 822463 10005', '6011111111111117']);
    assert.deepEqual(findIn('payment_card', 'jcb:3530111333300000;'), ['3530111333300000']);
  });
  it('finds a card followed by another number', () => {
    assert.deepEqual(findIn('payment_card', '4242 4242 4242 4242 1229'), ['4242 4242 4242 4242']);
  });
  it('leaves order numbers failing Luhn, unknown issuers, and other long numbers', () => {
    assert.deepEqual(findIn('payment_card', 'order 4242424242424241'), []);
    assert.deepEqual(findIn('payment_card', 'invoice 1234567812345670 / 9999999999999995'), []); // Luhn-valid, no issuer
    assert.deepEqual(findIn('payment_card', 'ts 20240115103000123'), []);
    assert.deepEqual(findIn('payment_card', 'id ORD4242424242424242'), []);
    assert.deepEqual(findIn('payment_card', '0.4242424242424242'), []);
    assert.deepEqual(findIn('payment_card', '4242 4242-4242 4242'), []); // mixed separators
    assert.deepEqual(findIn('payment_card', '42 4242424 2424 2424 2'), []); // no card grouping
    assert.deepEqual(findIn('payment_card', '2024-01-15 10:30:00 2024-01-16'), []);
  });
});

describe('iban', () => {
  it('finds IBANs with a valid checksum, grouped or compact', () => {
    assert.deepEqual(findIn('iban', 'IBAN DE89 3704 0044 0532 0130 00, thanks'), ['DE89 3704 0044 0532 0130 00']);
    assert.deepEqual(findIn('iban', 'GB82WEST12345698765432 and NO9386011117947'), ['GB82WEST12345698765432', 'NO9386011117947']);
    assert.deepEqual(findIn('iban', 'FR1420041010050500013M02606'), ['FR1420041010050500013M02606']);
  });
  it('leaves a wrong checksum, a wrong length, unknown countries and embedded ones', () => {
    assert.deepEqual(findIn('iban', 'DE88 3704 0044 0532 0130 00'), []);
    assert.deepEqual(findIn('iban', 'DE89 3704 0044 0532 0130 0012'), []);
    assert.deepEqual(findIn('iban', 'ZZ89370400440532013000'), []);
    assert.deepEqual(findIn('iban', 'XDE89370400440532013000'), []);
  });
});

describe('us_ssn', () => {
  it('finds AAA-GG-SSSS', () => {
    assert.deepEqual(findIn('us_ssn', 'SSN: 123-45-6789.'), ['123-45-6789']);
    assert.deepEqual(findIn('us_ssn', '219-09-9999, 078-05-1121'), ['219-09-9999', '078-05-1121']);
  });
  it('leaves the ranges the SSA never issues', () => {
    for (const bad of ['000-12-3456', '666-12-3456', '900-12-3456', '999-12-3456', '123-00-4567', '123-45-0000']) assert.deepEqual(findIn('us_ssn', bad), [], bad);
  });
  it('leaves bare digits and longer dashed numbers', () => {
    assert.deepEqual(findIn('us_ssn', '123456789'), []);
    assert.deepEqual(findIn('us_ssn', '1-123-45-6789 and 123-45-6789-1 and 123-45-67890'), []);
  });
});

describe('phone', () => {
  it('finds E.164 forms with separators', () => {
    assert.deepEqual(findIn('phone', 'call +1 (212) 555-0100 now'), ['+1 (212) 555-0100']);
    assert.deepEqual(findIn('phone', '+44 20 7946 0958; +4915112345678'), ['+44 20 7946 0958', '+4915112345678']);
    assert.deepEqual(findIn('phone', '(+33.1.23.45.67.89)'), ['+33.1.23.45.67.89']);
  });
  it('leaves numbers without +, dates, ISBNs, versions, timestamps and arithmetic', () => {
    assert.deepEqual(findIn('phone', '212 555 0100 and 2125550100'), []);
    assert.deepEqual(findIn('phone', 'ISBN 978-3-16-148410-0, 2024-01-15'), []);
    assert.deepEqual(findIn('phone', '2024-01-15T10:30:00+02:00 and 2024-01-15T10:30:00+0200'), []);
    assert.deepEqual(findIn('phone', 'v1.2.3+20240115 and 1+12345678'), []);
    assert.deepEqual(findIn('phone', '+0123456789 +12345 +1234567890123456'), []);
    assert.deepEqual(findIn('phone', '+49 151 1234 5678 9012 3456'), []);
  });
});

describe('ip_address', () => {
  it('finds IPv4 and IPv6 addresses', () => {
    assert.deepEqual(findIn('ip_address', 'from 203.0.113.42, then 10.0.0.1'), ['203.0.113.42', '10.0.0.1']);
    assert.deepEqual(findIn('ip_address', 'v6 2001:db8:85a3::8a2e:370:7334 and fe80::1'), ['2001:db8:85a3::8a2e:370:7334', 'fe80::1']);
    assert.deepEqual(findIn('ip_address', 'mapped ::ffff:192.0.2.1 end'), ['::ffff:192.0.2.1']);
    assert.deepEqual(findIn('ip_address', '[2001:db8::1]:8080'), ['2001:db8::1']);
  });
  it('leaves versions, times, invalid octets, MACs and code', () => {
    assert.deepEqual(findIn('ip_address', 'version 1.2.3.4.5 and Chrome/124.0.6367.91'), []);
    assert.deepEqual(findIn('ip_address', '999.1.1.1 and 01.2.3.4'), []);
    assert.deepEqual(findIn('ip_address', 'at 10:30:00, mac 00:1a:2b:3c:4d:5e'), []);
    assert.deepEqual(findIn('ip_address', 'std::vector<int> a::b x[::2]'), []);
  });
});

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';

describe('jwt', () => {
  it('finds tokens whose header has alg, unsigned ones too', () => {
    assert.deepEqual(findIn('jwt', `Authorization: Bearer ${JWT}.`), [JWT]);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"a":1}').toString('base64url')}.`;
    assert.deepEqual(findIn('jwt', none), [none]);
  });
  it('leaves base64 blobs that are not tokens', () => {
    const noAlg = `${Buffer.from('{"foo":"bar"}').toString('base64url')}.eyJhIjoxfQ.c2ln`;
    assert.deepEqual(findIn('jwt', noAlg), []);
    assert.deepEqual(findIn('jwt', Buffer.from('{"alg":"HS256"} and more').toString('base64')), []); // one segment
    assert.deepEqual(findIn('jwt', 'eyJnotjson.eyJhIjoxfQ.c2ln'), []);
    assert.deepEqual(findIn('jwt', `x${JWT}`), []);
  });
});

describe('private_key', () => {
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
  it('finds private key blocks, and a truncated one to the end of the value', () => {
    assert.deepEqual(findIn('private_key', `key:\n${pem}\nbye`), [pem]);
    assert.deepEqual(findIn('private_key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk'), ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk']);
  });
  it('leaves certificates and public keys', () => {
    assert.deepEqual(findIn('private_key', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'), []);
    assert.deepEqual(findIn('private_key', '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----'), []);
  });
});

describe('secret formats', () => {
  it('finds AWS, GitHub, Slack, Stripe and Google credentials', () => {
    assert.deepEqual(findIn('aws_access_key', 'id=AKIAIOSFODNN7EXAMPLE;'), ['AKIAIOSFODNN7EXAMPLE']);
    assert.deepEqual(findIn('aws_access_key', 'ASIAY34FZKBOKMUTVV7A'), ['ASIAY34FZKBOKMUTVV7A']);
    const ghp = `ghp_${'A1b2'.repeat(9)}`;
    assert.deepEqual(findIn('github_token', `token ${ghp} ok`), [ghp]);
    const pat = `github_pat_${'x'.repeat(22)}_${'Y'.repeat(59)}`;
    assert.deepEqual(findIn('github_token', pat), [pat]);
    assert.deepEqual(findIn('slack_token', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKl'), ['xoxb-123456789012-1234567890123-AbCdEfGhIjKl']);
    assert.deepEqual(findIn('stripe_key', `sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'} rk_live_${'a'.repeat(24)} sk_test_${'b'.repeat(24)}`), [`sk_live_4eC39HqLyjWDarjtT1zdp7dc`, `rk_live_${'a'.repeat(24)}`, `sk_test_${'b'.repeat(24)}`]);
    const google = `AIza${'SyA-1234567890abcdefghijklmnopqrs'}`;
    assert.equal(google.length, 37);
    assert.deepEqual(findIn('google_api_key', `key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&x`), ['AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI']);
  });
  it('leaves look-alikes', () => {
    assert.deepEqual(findIn('aws_access_key', 'AKIA1234 and XAKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPLEX'), []);
    assert.deepEqual(findIn('github_token', 'ghp_short and ghx_' + 'a'.repeat(36)), []);
    assert.deepEqual(findIn('slack_token', 'xoxz-1234567890 and xoxb-123'), []);
    assert.deepEqual(findIn('stripe_key', `pk_live_${'a'.repeat(24)} sk_live_short`), []);
    assert.deepEqual(findIn('google_api_key', 'AIzaShort'), []);
  });
});

describe('connection_string', () => {
  it('finds the password, only', () => {
    assert.deepEqual(findIn('connection_string', 'DATABASE_URL=postgres://app:s3cr3t@db.internal:5432/app'), ['s3cr3t']);
    assert.deepEqual(findIn('connection_string', 'mongodb+srv://u:p@ss:w0rd@cluster0.example.net/?x=1'), ['p@ss:w0rd']);
    assert.deepEqual(findIn('connection_string', 'amqp://guest:guest@mq and redis://:hunter22@cache:6379'), ['guest', 'hunter22']);
  });
  it('leaves URLs without a password', () => {
    assert.deepEqual(findIn('connection_string', 'https://example.com:8443/path?a=b@c and ssh://git@github.com/x and https://user:@host'), []);
  });
});
