# expect: compile error
require ["vacation", "vacation-seconds"];
vacation :days 1 :seconds 100 "x";
