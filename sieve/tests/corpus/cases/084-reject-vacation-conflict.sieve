# expect: runtime error
require ["reject", "vacation"];
vacation "away";
reject "no";
