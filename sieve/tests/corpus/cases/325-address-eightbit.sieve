# message: eightbit.eml
# An 8-bit address in a header is invalid to Pigeonhole: only :all sees the raw field.
require ["fileinto", "imap4flags"];
if address :is "from" "jörg@umlaut.example" { addflag "is-addr"; }
if address :all :contains "from" "umlaut.example>" { addflag "raw-all"; }
if address :domain :matches "from" "*" { addflag "has-domain"; }
if address :all :is "to" "a@b.c" { addflag "valid-one"; }
if address :all :matches "to" "*x.y" { addflag "eightbit-one"; }
keep;
