// The customers table of the large-result benchmarks: realistic names, emails and SSNs, and
// notes of which some hold an email or a card number for the content detectors.

export const CUSTOMERS_QUERY = 'SELECT id, name, email, ssn, note FROM customers';

/** CREATE TABLE customers and INSERT `rows` rows (run VACUUM ANALYZE after it, apart). */
export function customersSql(rows: number): string {
  return `
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL, ssn text NOT NULL, note text NOT NULL);
    INSERT INTO customers
    SELECT i, f || ' ' || l,
           translate(lower(f || '.' || l), 'éøíá', 'eoia') || (i % 97) || '@example.com',
           lpad((1 + i % 665)::text, 3, '0') || '-' || lpad((1 + i % 99)::text, 2, '0') || '-' || lpad((1 + i % 9999)::text, 4, '0'),
           (ARRAY[
             'Customer asked about the delivery window, promised a call back on Tuesday.',
             'Refund issued for order 100234 after damaged package, see ticket 88231.',
             'Prefers email contact. VIP since 2019; upgrade to plan v2.3.1 scheduled 2024-05-01.',
             'Paid with card 4111 1111 1111 1111, receipt sent.',
             'Forwarded the invoice to accounts@example.org for follow-up.',
             'Reached at +44 20 7946 0958 at 10:30, left voicemail.',
             'Logged in from 203.0.113.42 using Chrome 124.0.6367.91.',
             'Asked to close the account at the end of the quarter.',
             'Card on file 5555-5555-5555-4444 expired, reminder sent to billing.',
             'No contact preferred; send statements by post to the office address.'
           ])[1 + (i * 7) % 10]
    FROM (SELECT i,
                 (ARRAY['Jane','John','Amélie','Søren','Wei','Fatima','Carlos','Olga','Kenji','Priya'])[1 + i % 10] AS f,
                 (ARRAY['Doe','Smith','Müller','García','Nakamura','Okafor','Rossi','Kowalski'])[1 + (i / 10) % 8] AS l
          FROM generate_series(1, ${rows}) AS i) AS g;`;
}
