# expect: compile error
keep "INBOX";
