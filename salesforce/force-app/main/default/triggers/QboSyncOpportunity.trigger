trigger QboSyncOpportunity on Opportunity(after insert, after update, after delete, after undelete) {
    QboSyncTriggerHandler.handleTrigger();
}
