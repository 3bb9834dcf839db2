# message: list.eml
require ["virustest", "reject"];
if virustest :is "5" { reject "infected"; }
