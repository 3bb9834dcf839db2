require ["fileinto", "envelope", "subaddress", "variables", "imap4flags", "mailbox", "relational", "comparator-i;ascii-numeric", "regex", "body", "date", "spamtest", "copy"];
if spamtest :value "ge" :comparator "i;ascii-numeric" "8" { fileinto :create "Junk"; stop; }
if header :contains "list-id" "list0.example.org" { fileinto :create "Lists.list0"; stop; }
if header :contains "list-id" "list1.example.org" { fileinto :create "Lists.list1"; stop; }
if header :contains "list-id" "list2.example.org" { fileinto :create "Lists.list2"; stop; }
if header :contains "list-id" "list3.example.org" { fileinto :create "Lists.list3"; stop; }
if header :contains "list-id" "list4.example.org" { fileinto :create "Lists.list4"; stop; }
if header :contains "list-id" "list5.example.org" { fileinto :create "Lists.list5"; stop; }
if header :contains "list-id" "list6.example.org" { fileinto :create "Lists.list6"; stop; }
if header :contains "list-id" "list7.example.org" { fileinto :create "Lists.list7"; stop; }
if header :contains "list-id" "list8.example.org" { fileinto :create "Lists.list8"; stop; }
if header :contains "list-id" "list9.example.org" { fileinto :create "Lists.list9"; stop; }
if address :domain :is "from" "customer0.example" { addflag "$Customer"; fileinto "Customers.c0"; }
if address :domain :is "from" "customer1.example" { addflag "$Customer"; fileinto "Customers.c1"; }
if address :domain :is "from" "customer2.example" { addflag "$Customer"; fileinto "Customers.c2"; }
if address :domain :is "from" "customer3.example" { addflag "$Customer"; fileinto "Customers.c3"; }
if address :domain :is "from" "customer4.example" { addflag "$Customer"; fileinto "Customers.c4"; }
if address :domain :is "from" "customer5.example" { addflag "$Customer"; fileinto "Customers.c5"; }
if header :matches "subject" "[*] *" { set "tag" "${1}"; }
if envelope :detail :matches "to" "*" { if not string :is "${1}" "" { fileinto :create "Tags.${1}"; } }
if header :regex "subject" "^(re|fwd?): invoice [0-9]+" { fileinto "Invoices"; }
if body :contains ["unsubscribe", "newsletter"] { addflag "\\Seen"; }
if header :count "ge" :comparator "i;ascii-numeric" "received" "20" { fileinto "Suspicious"; }
if size :over 5M { fileinto "Large"; }
if date :value "lt" "date" "year" "2000" { fileinto "Old"; }
if anyof (header :contains "x-priority" "1", header :is "importance" "high") { addflag "\\Flagged"; }
if address :is "to" "boss@example.net" { redirect :copy "assistant@example.net"; }
if exists "x-mailer" { if header :contains "x-mailer" "bulk" { fileinto "Bulk"; } }
if header :is "auto-submitted" "auto-replied" { fileinto "Auto"; }
if address :localpart :is "from" ["noreply", "no-reply"] { addflag "noreply"; }
if header :contains "subject" ["win", "prize", "free money"] { addflag "suspect"; }
