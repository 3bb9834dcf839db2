# message: bounce.eml
require ["fileinto", "envelope"];
if anyof (address :localpart :is "from" "mailer-daemon", header :contains "auto-submitted" "auto-replied") { fileinto "Bounces"; }
