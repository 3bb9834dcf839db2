require "vacation";
vacation :days 3 "away";
