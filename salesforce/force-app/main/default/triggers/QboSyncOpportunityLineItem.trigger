// No after undelete: line items are not restored on their own (they come back with their
// Opportunity, whose own trigger reports it).
trigger QboSyncOpportunityLineItem on OpportunityLineItem(after insert, after update, after delete) {
    QboSyncTriggerHandler.handleTrigger();
}
