require "reject";
if header :contains "subject" "meeting" { reject "busy"; stop; }
keep;
